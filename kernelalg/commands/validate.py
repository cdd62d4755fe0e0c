"""``kernelalg validate``: quick versions of the three validation experiments for a pair."""

from __future__ import annotations

import json
import time

from kernelalg.commands import add_force_argument, prepare_outputs
from kernelalg.experiments import divergence, empirical, sgl
from kernelalg.experiments.figures import pyplot
from kernelalg.files import write_text

QUICK = {
    "divergence": {"ms": (1, 3, 10, 30, 100, 300, 1000), "points": 8},
    "empirical": {"widths": (64, 256, 1024, 2048), "ms": (2,), "seeds": 4, "steps": 20},
    "sgl": {"widths": (32, 128, 512), "steps": 1000, "networks": 10},
}


def _validate(args) -> int:
    figures = args.figures
    names = ["validate.json", *(["divergence.png", "empirical.png", "sgl.png"] if figures else [])]
    metrics_path, *figure_paths = prepare_outputs(args.out_dir, names, args.force)
    if figures:
        pyplot()  # fail early (clear message) when matplotlib is missing
    show = not args.json
    start = time.perf_counter()
    div = divergence.run(depth=args.depth, psi=args.psi, show_progress=show, **QUICK["divergence"])
    emp = empirical.run(psi=args.psi, depth=args.depth, show_progress=show, **QUICK["empirical"])
    fit = sgl.run(phi=args.phi, psi=args.psi, depth=args.depth, show_progress=show, **QUICK["sgl"])
    metrics = {
        "divergence_exponent": div.divergence_exponent,
        "empirical_slope": emp.empirical_slope,
        "sgl_mean_abs_dev": fit.sgl_mean_abs_dev,
        "sgl_std_ratio": fit.sgl_std_ratio,
        "sgl_within_band": fit.sgl_within_band,
        "widths": fit.widths,
    }
    seconds = time.perf_counter() - start
    write_text(metrics_path, json.dumps({**metrics, "seconds": seconds, "divergence": div.as_dict(),
                                         "empirical": emp.as_dict(), "sgl": fit.as_dict()}, indent=1), args.force)
    for module, result, path in zip((divergence, empirical, sgl), (div, emp, fit), figure_paths):
        module.figure(result, path, args.force)
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(f"\nValidation of phi = {args.phi}, psi = {args.psi}, L = {args.depth} ({seconds:.1f} s)\n")
    print(f"1. naive NTK of erf_m: diagonal ~ m^{div.divergence_exponent:.2f} (expected ~{args.depth}); "
          f"SG-NTK distance to sign at m = {div.ms[-1]:g}: {div.sgntk_distance[-1]:.2e}")
    print(f"2. empirical SG-NTK of erf_m networks: error ~ width^{emp.empirical_slope:.2f} (expected -0.5); "
          f"at width {emp.widths[-1]}: {emp.error_init[next(iter(emp.error_init))][-1]:.3f}")
    print(f"3. SGL ensemble ({fit.networks} networks, {fit.steps} steps) vs SG-NTK GP:")
    print(f"   {'width':>6s} {'mean |dev|':>11s} {'std ratio':>10s} {'in 2-sigma band':>16s}")
    for n, d, r, w in zip(fit.widths, fit.sgl_mean_abs_dev, fit.sgl_std_ratio, fit.sgl_within_band):
        print(f"   {n:6d} {d:11.4f} {r:10.3f} {100 * w:15.0f}%")
    print(f"\nMetrics: {metrics_path}" + (f"; figures in {metrics_path.parent}" if figures else ""))
    return 0


def register(sub) -> None:
    p = sub.add_parser("validate", help="quick validation experiments: naive NTK divergence, empirical "
                                        "SG-NTK convergence, SGL ensembles vs the SG-NTK GP")
    p.add_argument("--phi", default="sign", help="activation of the SGL networks (default: sign)")
    p.add_argument("--psi", default="gaussian", help="surrogate derivative (default: gaussian)")
    p.add_argument("--depth", type=int, default=2, help="hidden layers (default: 2)")
    p.add_argument("--out-dir", default="kernelalg-output/validate", help="metrics and figures folder")
    p.add_argument("--no-figures", dest="figures", action="store_false", help="skip the PNG figures")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    add_force_argument(p)
    p.set_defaults(func=_validate)
