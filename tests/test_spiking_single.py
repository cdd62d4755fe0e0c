"""kernelalg.spiking.single: the first spike of one neuron, the reference's recorded numbers, and
continuity across the trial end (a QIF spike continues as a pseudospike; a LIF spike jumps)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kernelalg.spiking.models import QIF
from kernelalg.spiking.single import first_spike


def test_reference_spike_time_and_derivative():
    """docs/spiking.md section 8.1: w = 1.15 w_min at t = 0.5, T = 4: t = 3.1957, dt/dw = -2.4345."""
    r = first_spike("qif", 1.15 * QIF().min_weight_to_spike, 0.5, 4.0)
    assert not r.pseudo and abs(r.t - 3.1957) < 5e-5 and abs(r.dt_dw + 2.4345) < 5e-5
    r = first_spike("qif", 1.5 * QIF().min_weight_to_spike, 0.5, 4.0)
    assert abs(r.t - 2.1955) < 5e-5 and abs(r.dt_dw + 0.6011) < 5e-5


def _crossing_weight(t_in=0.5, T=4.0):
    lo, hi = QIF().min_weight_to_spike, 60.0
    assert not first_spike("qif", hi, t_in, T).pseudo
    for _ in range(80):
        mid = (lo + hi) / 2
        r = first_spike("qif", mid, t_in, T)
        lo, hi = (mid, hi) if r.pseudo else (lo, mid)
    return (lo + hi) / 2


def test_trial_end_crossing_is_smooth():
    """docs/spiking.md section 6.5: the spike crosses T at w_c ~ 2.6235 with dt/dw ~ -6.121 on both sides."""
    wc = _crossing_weight()
    assert abs(wc - 2.6235) < 1e-3
    below, above = first_spike("qif", wc * (1 - 1e-5), 0.5, 4.0), first_spike("qif", wc * (1 + 1e-5), 0.5, 4.0)
    assert below.pseudo and not above.pseudo
    assert abs(below.dt_dw + 6.121) < 2e-3 and abs(above.dt_dw + 6.121) < 2e-3
    assert abs(below.t - above.t) < 7 * wc * 2e-5


@settings(max_examples=15, deadline=None)
@given(st.floats(0.0, 3.0))
def test_spike_continues_as_pseudospike_across_trial_end(t_in):
    """Property: the first output time is continuous in w across the crossing of T, and its
    derivative jumps there by no more than it changes over the same step on one side."""
    T, rel = 4.0, 1e-4
    wc = _crossing_weight(t_in, T)
    a, b = first_spike("qif", wc * (1 - rel), t_in, T), first_spike("qif", wc * (1 + rel), t_in, T)
    c = first_spike("qif", wc * (1 + 3 * rel), t_in, T)
    assert a.pseudo and not b.pseudo
    slope = max(abs(a.dt_dw), abs(b.dt_dw))
    assert abs(a.t - b.t) <= 1.05 * slope * 2 * rel * wc
    assert abs(a.dt_dw - b.dt_dw) <= 2 * abs(c.dt_dw - b.dt_dw) + 1e-3 * slope
    assert abs(a.dt_dtin - b.dt_dtin) <= 2 * abs(c.dt_dtin - b.dt_dtin) + 1e-3 * max(1, abs(b.dt_dtin))


def test_lif_spike_appears_inside_the_trial():
    """The contrast: at the threshold weight 4 the LIF spike appears abruptly near 0.3 T."""
    below = first_spike("lif", 4 * (1 - 1e-6), 0.5, 3.0)
    above = first_spike("lif", 4 * (1 + 1e-6), 0.5, 3.0)
    assert below.t is None and above.t is not None and above.t < 0.5 * 3.0
    assert abs(above.dt_dw) > 100
