"""Hand-written mpmath descriptions of the catalog functions and their derivatives, for the
witness (independent of kernelalg's parser, catalog and distributional derivatives)."""

from __future__ import annotations

import mpmath as mp

from tests.witness.gaussian import Ref


def npdf(x, mu, s):
    return mp.exp(-((x - mu) ** 2) / (2 * s * s)) / (s * mp.sqrt(2 * mp.pi))


# activations: (phi, phi') as Ref pairs
def sign():
    return Ref(steps=(-1, ((0, 2),))), Ref(deltas=((0, 2),))


def step(t=0.0):
    return Ref(steps=(0, ((t, 1),))), Ref(deltas=((t, 1),))


def erf(m=1.0):
    m = mp.mpf(m)
    return (Ref(lambda x: mp.erf(m * x), scales=((0, 1 / m),)),
            Ref(lambda x: 2 * m / mp.sqrt(mp.pi) * mp.exp(-(m * x) ** 2), scales=((0, 1 / m),)))


def relu():
    return Ref(lambda x: max(x, 0), kinks=(0,)), Ref(steps=(0, ((0, 1),)))


def tanh(k=1.0):
    return (Ref(lambda x: mp.tanh(k * x), scales=((0, 1 / k),)),
            Ref(lambda x: k / mp.cosh(k * x) ** 2, scales=((0, 1 / k),)))


def identity():
    return Ref(lambda x: x), Ref(lambda x: 1)


def sin(k=1.0, p=0.0):
    k, p = mp.mpf(k), mp.mpf(p)
    return Ref(lambda x: mp.sin(k * x + p)), Ref(lambda x: k * mp.cos(k * x + p))


def cos(k=1.0):
    k = mp.mpf(k)
    return Ref(lambda x: mp.cos(k * x)), Ref(lambda x: -k * mp.sin(k * x))


def rbf(gamma=1.0):
    """sqrt(2) sin(sqrt(2 gamma) x + pi/4) (neural-tangents' Rbf layer)."""
    w = mp.sqrt(2 * mp.mpf(gamma))
    return (Ref(lambda x: mp.sqrt(2) * mp.sin(w * x + mp.pi / 4)),
            Ref(lambda x: mp.sqrt(2) * w * mp.cos(w * x + mp.pi / 4)))


def gelu():
    """x Phi(x) and its derivative Phi(x) + x phi(x)."""
    return Ref(lambda x: x * mp.ncdf(x)), Ref(lambda x: mp.ncdf(x) + x * mp.npdf(x))


# surrogates
def gaussian(sigma=1.0, amp=1.0, mu=0.0):
    return Ref(lambda x: amp * npdf(x, mu, mp.mpf(sigma)), scales=((mu, sigma),))


def laplace(k=1.0, amp=1.0):
    return Ref(lambda x: amp * mp.exp(-k * abs(x)), kinks=(0,), scales=((0, 1 / k),))


def triangle(w=1.0, amp=1.0):
    return Ref(lambda x: amp * max(0, 1 - abs(x) / w), kinks=(-w, 0, w))


def box(w=1.0, amp=1.0):
    return Ref(steps=(0, ((-w, amp), (w, -amp))))


def multi_gaussian(sigma=0.5, h=0.15, r=6.0, amp=1.0):
    s = mp.mpf(sigma)
    return Ref(lambda x: amp * ((1 + h) * npdf(x, 0, s) - h * npdf(x, s, r * s) - h * npdf(x, -s, r * s)),
               scales=((0, s), (-s, s), (s, s)))


def atan(a=2.0, amp=1.0):
    return Ref(lambda x: amp * (a / 2) / (1 + (mp.pi * a * x / 2) ** 2), scales=((0, 1 / a),))


def superspike(k=25.0, amp=1.0):
    return Ref(lambda x: amp / (1 + k * abs(x)) ** 2, kinks=(0,), scales=((0, 1 / k),))


def logistic(k=4.0):
    return Ref(lambda x: k / (4 * mp.cosh(k * x / 2) ** 2), scales=((0, 1 / k),))


def softplus():
    """log(1 + e^x) and its derivative, the logistic function 1/(1 + e^-x)."""
    return (Ref(lambda x: mp.log1p(mp.exp(x)), scales=((0, 1),)),
            Ref(lambda x: 1 / (1 + mp.exp(-x)), scales=((0, 1),)))


def silu():
    """SiLU x/(1 + e^-x) = x s(x) and its derivative s(x) (1 + x (1 - s(x)))."""
    def s(x):
        return 1 / (1 + mp.exp(-x))

    return (Ref(lambda x: x * s(x), scales=((0, 1),)),
            Ref(lambda x: s(x) * (1 + x * (1 - s(x))), scales=((0, 1),)))
