"""Commands of the numeric layer: kernel, predict."""

from __future__ import annotations

import json
import time

import numpy as np

from kernelalg.commands import add_force_argument
from kernelalg.commands.symbolic import add_pair_arguments
from kernelalg.errors import InputError
from kernelalg.files import check_target, read_array, save_arrays
from kernelalg.numeric.arrays import check_memory
from kernelalg.numeric.inference import predict
from kernelalg.numeric.kernels import OUTPUTS, Kernel, as_points, circle


def add_network_arguments(parser) -> None:
    add_pair_arguments(parser)
    parser.add_argument("--depth", type=int, default=2, help="number of hidden layers L (default 2)")
    parser.add_argument("--sigma-w", type=float, default=1.0, help="weight scale sw (default 1)")
    parser.add_argument("--sigma-b", type=float, default=0.0, help="bias scale sb (default 0)")


def kernel_from(args) -> Kernel:
    return Kernel(args.phi, args.psi, depth=args.depth, sigma_w=args.sigma_w, sigma_b=args.sigma_b)


def _kernel(args) -> int:
    kernel = kernel_from(args)
    check_target(args.out, args.force)
    if args.circle is not None:
        check_memory((args.circle, args.circle), OUTPUTS)
    X = circle(args.circle) if args.circle is not None else as_points(read_array(args.points, "--points"), "--points")
    Y = as_points(read_array(args.points2, "--points2"), "--points2") if args.points2 else None
    kernel(X[:1])  # derivation and code generation (cached) are not part of the timing
    start = time.perf_counter()
    result = kernel(X, Y)
    seconds = time.perf_counter() - start
    save_arrays(args.out, args.force, nngp=result.nngp, sgntk=result.sgntk, ntk=result.ntk)
    if args.json:
        diag = kernel.diagonal(X).sgntk if Y is None else np.diagonal(result.sgntk)
        print(json.dumps({"shape": list(result.sgntk.shape), "diag_sgntk": diag.tolist(), "seconds": seconds}))
    else:
        print(f"wrote {args.out}: nngp, sgntk, ntk of shape {result.sgntk.shape} in {seconds:.3f} s")
    return 0


def _predict(args) -> int:
    kernel = kernel_from(args)
    check_target(args.out, args.force)
    X = read_array(args.train, "--train")
    Y = read_array(args.targets, "--targets")
    T = read_array(args.test, "--test")
    t = float("inf") if args.time in ("inf", "infinity") else _number(args.time, "--time")
    result = predict(kernel, X, Y, T, t=t, eta=args.lr)
    mean = result.mean[:, 0] if result.mean.shape[1] == 1 else result.mean
    save_arrays(args.out, args.force, mean=mean, std=result.std)
    if args.json:
        print(json.dumps({"mean": np.asarray(mean).tolist(), "std": result.std.tolist()}))
    else:
        print(f"wrote {args.out}: mean and std at {T.shape[0]} test points")
    return 0


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{name} must be a number or 'inf', got {text!r}") from None


def register(sub) -> None:
    p = sub.add_parser("kernel", help="NNGP, SG-NTK and naive NTK matrices of a deep network")
    add_network_arguments(p)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--points", help="input points X as an (N, d) .npy file")
    where.add_argument("--circle", type=int, help="use N equally spaced points on the unit circle")
    p.add_argument("--points2", help="second point set Y (M, d) .npy (default: X)")
    p.add_argument("--out", required=True, help="output .npz with arrays nngp, sgntk, ntk")
    add_force_argument(p)
    p.add_argument("--json", action="store_true", help="print shape, SG-NTK diagonal and seconds as JSON")
    p.set_defaults(func=_kernel)

    p = sub.add_parser("predict", help="mean and std of the infinitely wide network trained by SGL")
    add_network_arguments(p)
    p.add_argument("--train", required=True, help="training inputs (n, d) .npy")
    p.add_argument("--targets", required=True, help="training targets (n,) .npy")
    p.add_argument("--test", required=True, help="test inputs (m, d) .npy")
    p.add_argument("--time", default="inf", help="training time t (default inf)")
    p.add_argument("--lr", type=float, default=1.0, help="learning rate eta (default 1)")
    p.add_argument("--out", required=True, help="output .npz with arrays mean, std")
    add_force_argument(p)
    p.add_argument("--json", action="store_true", help="print mean and std as JSON")
    p.set_defaults(func=_predict)
