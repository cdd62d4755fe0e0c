"""``kernelalg spiking``: spiking-network simulations with exact gradients."""

from __future__ import annotations

import json

from kernelalg.spiking.models import MODELS
from kernelalg.spiking.single import first_spike


def _spike_time(args) -> int:
    result = first_spike(args.model, args.w, args.t_in, args.T)
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
    s.set_defaults(func=_spike_time)
