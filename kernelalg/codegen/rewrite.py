"""Rewrites of derived formulas into forms that are accurate in float64.

* ``a*b - c**2`` -> ``Det2(a, b, c)``, evaluated with exact products (no cancellation
  near |rho| = 1);
* ``asin(N / sqrt(D))`` -> ``atan(N / sqrt(D - N^2))`` (exact at the edge, never NaN), and
  ``k asin(N / sqrt(D)) + k pi/2`` -> ``k Angle(sqrt(D - N^2), -N)`` (acos(-N/sqrt(D)), the
  angle of the point (-N, sqrt(D - N^2)), without the cancellation of pi/2 + asin near -1);
* ``sinh`` and ``cosh`` are written as exponentials and distributed over their exponential
  factor (``exp(-(a+b)/2) sinh(c)`` overflows as a product at variances of 1e3), and a
  difference ``k exp(X) - k exp(Y)`` is ``k ExpSub(X, Y, Y - X)``, i.e.
  ``sign(Y - X) exp(max(X, Y)) expm1(-|Y - X|)``: no overflow, no cancellation, Y - X cancelled
  symbolically;
* a polynomial ``alpha + beta c^2`` beside a root of a quadratic K = P(a, b) - q c^2, with
  alpha = lambda P, is ``lambda K + (beta + q lambda) c^2`` when both coefficients are
  nonnegative: the cancellation between its c^2 and a, b terms near the edge then happens once,
  inside K (GELU: ab(ab + a + b + 1) - ab c^2 + c^2 = ab K + c^2);
* ``erfc(h/sqrt 2)/4 - T(h, x)`` (Owen's T at h >= 0, whose limit as x -> oo is the first term) ->
  ``OwenTail(h, x)``, evaluated without that difference where it cancels (shifted steps at
  rho -> -1, where the value is tiny);
* a sum of such tails whose angles acot(x) add up to a constant (checked at 40 digits on random
  covariances) is written with ``OwenRest(h, x) = acot(x)/(2 pi) - OwenTail(h, x)``, the constant
  and ``erfc = 1 - erf``, when its O(1) terms then cancel symbolically (rectangle probabilities
  of compact surrogates at large variances, where the value is O(1/variance));
* ``1 - erf(z)`` -> ``erfc(z)``, and ``exp(A) erfc(B)`` -> ``erfcx(B) exp(A - B^2)``, so
  steep surrogates and tiny conditional variances do not overflow to inf * 0;
* numeric factors of products (2/pi, sqrt(2), ...) are folded into one float;
* products of an exponential with a sum of exponentials are distributed, so that
  ``exp(-A) (1 - exp(A))`` becomes ``exp(-A) - 1``, and ``exp(z) - 1`` is ``expm1(z)``;
* logistic forms (:func:`logistic`, applied to everything printed): ``log(1 + exp(w))`` is
  ``Softplus(w)`` and ``exp(w)^j / (1 + exp(w))^k`` (0 <= j <= k, also j = 0 alone) is
  ``Expit(w)^j Expit(-w)^(k - j)``, so softplus, the sigmoid and SiLU's derivative stay finite
  where exp overflows (inf / inf) at arguments beyond 709.
"""

from __future__ import annotations

import random
from fractions import Fraction
from functools import lru_cache

import mpmath
import sympy as sp

from kernelalg.symbolic.expectation.result import a, b, c
from kernelalg.symbolic.special import GaussianMean, OwenT


class Det2(sp.Function):
    """a*b - c**2, computed without cancellation (see runtime._det2)."""

    nargs = 3


class DetSum(sp.Function):
    """k (ab - c^2) + p a + q b + r with k r = p q, r > 0, p, q >= 0 (see runtime._det_sum)."""

    nargs = 7


class Expm1(sp.Function):
    """exp(z) - 1."""

    nargs = 1


class Expit(sp.Function):
    """The logistic function exp(z) / (1 + exp(z)) = 1 / (1 + exp(-z))."""

    nargs = 1


class Softplus(sp.Function):
    """log(1 + exp(z))."""

    nargs = 1


class Erfc(sp.Function):
    """erfc(z) kept as written: SymPy's own erfc turns erfc(-z) into 2 - erfc(z)."""

    nargs = 1

    def fdiff(self, argindex=1):
        return -2 / sp.sqrt(sp.pi) * sp.exp(-self.args[0] ** 2)


class ExpErfc(sp.Function):
    """exp(e) erfc(z) given as (e, e - z^2, z): evaluated by runtime._exp_erfc."""

    nargs = 3

    def fdiff(self, argindex=1):
        e, e_scaled, z = self.args  # the value exp(e) erfc(z); e_scaled only restates e - z^2
        return {1: self, 2: sp.S.Zero, 3: -2 / sp.sqrt(sp.pi) * sp.exp(e_scaled)}[argindex]


class Erfcx(sp.Function):
    """Scaled complementary error function exp(z^2) erfc(z)."""

    nargs = 1

    def fdiff(self, argindex=1):
        return 2 * self.args[0] * self - 2 / sp.sqrt(sp.pi)


class OwenTail(sp.Function):
    """T(h, oo) - T(h, x) = erfc(h/sqrt 2)/4 - T(h, x) for h >= 0 (see runtime._owens_t_tail)."""

    nargs = 2


class OwenRest(sp.Function):
    """acot(x)/(2 pi) - OwenTail(h, x), acot in (0, pi) (see runtime._owens_t_rest)."""

    nargs = 2


class Angle(sp.Function):
    """atan2(y, x) for y >= 0: evaluated by runtime._angle."""

    nargs = 2


class ExpSub(sp.Function):
    """exp(x) - exp(y) given as (x, y, y - x): evaluated by runtime._exp_sub."""

    nargs = 3


def _det_terms(expr: sp.Expr) -> sp.Expr:
    """Rewrite k ab + p a + q b + r - k c^2 (plus other terms) without the cancellation of its
    c^2 and ab terms near the edge c^2 = ab.

    It is k Det2(a, b, c) + p a + q b + r, with the exact Det2 shared with the other maps that
    need it; or, when r > 0, p, q >= 0 and k r = p q (erf's (1 + 2a)(1 + 2b) - 4 c^2),
    DetSum(a, b, c, k, p, q, r), which uses the factored form (p a + r)(q b + r)/r - k c^2 (its
    factors are vectors in the kernel recursion) where it is accurate.
    """
    if not expr.is_Add:
        return expr
    coeffs = expr.as_coefficients_dict()
    k = coeffs.get(a * b, 0)
    if k == 0 or coeffs.get(c**2, 0) != -k:
        return expr
    p, q, r = (sp.sympify(coeffs.get(key, 0)) for key in (a, b, sp.S.One))
    rest = expr - k * a * b + k * c**2 - p * a - q * b - r
    numeric = all(v.is_number for v in (k, p, q, r))
    if numeric and r > 0 and p >= 0 and q >= 0 and k * r == p * q:
        return rest + DetSum(a, b, c, k, p, q, r)
    return rest + k * Det2(a, b, c) + p * a + q * b + r


def _asin(arg: sp.Expr) -> sp.Expr:
    """asin(N/D) = atan(N / sqrt(D^2 - N^2)) for D > 0, with D^2 - N^2 expanded.

    At the edge the quotient is +-inf and atan gives exactly +-pi/2 (0/0 cannot occur: D > 0).
    """
    num, den = sp.fraction(sp.together(arg))
    den_sq = sp.expand(sp.powdenest(den**2, force=True))
    return sp.atan(num / sp.sqrt(_det_terms(sp.expand(den_sq - num**2))))


def _acos(expr: sp.Expr) -> sp.Expr:
    """k asin(z) + k pi/2 -> k Angle(sqrt(D - N^2), -N) inside a sum, z = N/sqrt(D)."""
    if not expr.is_Add:
        return expr
    for term in expr.args:
        arcs = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.asin)]
        if len(arcs) != 1:
            continue
        k = term / arcs[0]
        if k * sp.pi / 2 in expr.args:
            num, den = sp.fraction(sp.together(arcs[0].args[0]))
            den_sq = sp.expand(sp.powdenest(den**2, force=True))
            angle = Angle(sp.sqrt(_det_terms(sp.expand(den_sq - num**2))), -num)
            return expr - term - k * sp.pi / 2 + k * angle
    return expr


def _edge_base(expr: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr] | None:
    """The one quadratic K = P(a, b) - q c^2 under a half-integer power in expr, as (K, P, q)."""
    found = set()
    for power in expr.atoms(sp.Pow):
        base = power.base
        if not (power.exp.is_Rational and power.exp.q == 2 and base.is_polynomial(a, b, c) and base.has(c)):
            continue
        poly = sp.Poly(base, c)
        q = -poly.coeff_monomial(c**2)
        if poly.degree() == 2 and poly.coeff_monomial(c) == 0 and q.is_number and q > 0:
            found.add((base, poly.coeff_monomial(1), q))
    return found.pop() if len(found) == 1 else None


def _in_edge_variable(expr: sp.Expr) -> sp.Expr:
    """alpha(a, b) + beta(a, b) c^2 -> lambda K + mu c^2, mu = beta + q lambda, where alpha = lambda P
    (K, P, q of _edge_base) and lambda, mu >= 0 for all a, b > 0: a sum of nonnegative terms."""
    edge = _edge_base(expr)
    if edge is None:
        return expr
    K, P, q = edge

    def rewrite(total: sp.Expr) -> sp.Expr:
        poly = sp.Add(*(t for t in total.args if t.is_polynomial(a, b, c)))
        if poly == K or not poly.has(c) or sp.Poly(poly, c).monoms() != [(2,), (0,)]:
            return total
        in_c = sp.Poly(poly, c)
        alpha, beta = in_c.coeff_monomial(1), in_c.coeff_monomial(c**2)
        lam, rest = sp.div(alpha, P, a, b)
        lam, mu = sp.factor(lam), sp.factor(beta + q * lam)
        if rest != 0 or lam == 0 or not (lam.is_nonnegative and mu.is_nonnegative):
            return total
        return total - poly + lam * K + mu * c**2

    return expr.replace(lambda e: e.is_Add and e.has(c**2), rewrite)


def _exp_sub(expr: sp.Expr) -> sp.Expr:
    """k exp(X) - k exp(Y) -> k ExpSub(X, Y, Y - X) inside a sum."""
    terms = [t.as_independent(sp.exp, as_Add=False) for t in expr.args]
    for i, (k1, e1) in enumerate(terms):
        for k2, e2 in terms[i + 1:]:
            if isinstance(e1, sp.exp) and isinstance(e2, sp.exp) and k1 == -k2:
                x, y = e1.args[0], e2.args[0]
                return expr - k1 * e1 - k2 * e2 + k1 * ExpSub(x, y, sp.factor(sp.cancel(y - x)))
    return expr


def _owen_tails(expr: sp.Expr) -> sp.Expr:
    """k T(h, x) + m erfc(h/sqrt 2) -> |k| OwenTail(h, x) + (m - |k|/4) erfc(h/sqrt 2) inside a sum,
    for k < 0 <= m - |k|/4 and h >= 0 (T(h, oo) = erfc(h/sqrt 2)/4), as long as one applies."""
    while True:
        coeffs = dict(expr.as_coefficients_dict())
        for term, k in coeffs.items():
            if isinstance(term, OwenT) and k.is_negative and _nonnegative(term.args[0]):
                whole = sp.erfc(term.args[0] / sp.sqrt(2))
                m = coeffs.get(whole, sp.S.Zero)
                if (m + k / 4).is_nonnegative:
                    expr = expr - k * term + k / 4 * whole - k * OwenTail(*term.args)
                    break
        else:
            return expr


def _owen_angles(expr: sp.Expr) -> sp.Expr:
    """sum k_i OwenTail(h_i, x_i) + rest -> C + rest - sum k_i OwenRest(h_i, x_i), with erfc = 1 - erf
    in rest, when C = sum k_i acot(x_i)/(2 pi) is a constant and the sum's constant terms cancel."""
    tails = [(k, t) for t, k in expr.as_coefficients_dict().items() if isinstance(t, OwenTail)]
    if len(tails) < 2:
        return expr
    constant = _constant(sp.Add(*(k * (sp.pi / 2 - sp.atan(t.args[1])) for k, t in tails)) / (2 * sp.pi))
    if constant is None:
        return expr
    rest = (expr - sp.Add(*(k * t for k, t in tails))).replace(lambda e: isinstance(e, sp.erfc),
                                                               lambda e: 1 - sp.erf(e.args[0]))
    candidate = sp.expand(rest + constant) - sp.Add(*(k * OwenRest(*t.args) for k, t in tails))
    return candidate if candidate.as_coeff_Add()[0] == 0 else expr


def _constant(expr: sp.Expr) -> sp.Rational | None:
    """The value of expr(a, b, c) if it is the same rational p/q (q <= 12) at 40 digits on 12
    random covariances (variances 1e-2..1e2, |rho| < 0.99), else None."""
    fn = sp.lambdify((a, b, c), expr, "mpmath")
    draw = random.Random(0)
    with mpmath.workdps(40):
        values = []
        for _ in range(12):
            va, vb = (mpmath.mpf(10) ** draw.uniform(-2, 2) for _ in range(2))
            value = fn(va, vb, mpmath.mpf(draw.uniform(-0.99, 0.99)) * mpmath.sqrt(va * vb))
            if not isinstance(value, mpmath.mpf):  # complex or not a number: not an angle sum
                return None
            values.append(value)
        guess = Fraction(str(mpmath.nstr(values[0], 30))).limit_denominator(12)
        if any(abs(v - mpmath.mpf(guess.numerator) / guess.denominator) > mpmath.mpf(10) ** -30 for v in values):
            return None
    return sp.Rational(guess.numerator, guess.denominator)


def _has_erf_term(expr: sp.Expr) -> bool:
    return expr.is_Add and any(isinstance(t, sp.erf) or (t.is_Mul and any(isinstance(f, sp.erf) for f in t.args))
                               for t in expr.args)


def _erfc_products(expr: sp.Expr) -> sp.Expr:
    """exp(A) * erfc(B) -> erfcx(B) * exp(A - B^2) in every product."""
    if not expr.is_Mul:
        return expr
    exps = [f for f in expr.args if isinstance(f, sp.exp)]
    erfcs = [f for f in expr.args if isinstance(f, (sp.erfc, Erfc))]
    if not exps or len(erfcs) != 1:
        return expr
    (erfc_factor,) = erfcs
    z = erfc_factor.args[0]
    exponent = sp.Add(*(e.args[0] for e in exps))
    rest = sp.Mul(*(f for f in expr.args if f not in exps and f is not erfc_factor))
    scaled = sp.factor(sp.cancel(exponent - z**2))
    if _nonnegative(z):
        return rest * Erfcx(z) * sp.exp(scaled)
    return rest * ExpErfc(sp.factor(sp.cancel(exponent)), scaled, z)


def _nonnegative(z: sp.Expr) -> bool:
    """z >= 0 for every valid covariance (square roots are nonnegative, a, b > 0)."""
    roots = {p: sp.Dummy(positive=True) for p in z.atoms(sp.Pow) if p.exp == sp.S.Half}
    return bool(z.xreplace(roots).is_nonnegative)


def _push_exp(factor: sp.exp, expr: sp.Expr) -> sp.Expr:
    """factor * expr with the exponential moved onto the exponentials inside expr's sums."""
    if expr.is_Add:
        return sp.Add(*(_push_exp(factor, term) for term in expr.args))
    if expr.is_Mul:
        for i, f in enumerate(expr.args):
            if (f.is_Add and f.has(sp.exp)) or isinstance(f, sp.exp):
                rest = expr.args[:i] + expr.args[i + 1:]
                return sp.Mul(*rest) * _push_exp(factor, f)
    if isinstance(expr, sp.exp):
        return sp.exp(sp.factor(sp.cancel(expr.args[0] + factor.args[0])))
    return factor * expr


def _distribute_exp(expr: sp.Expr) -> sp.Expr:
    """exp(A) * (... + exp(B) ...) -> (... + exp(A + B) ...), with A + B cancelled."""
    exps = [f for f in expr.args if isinstance(f, sp.exp)] if expr.is_Mul else []
    sums = [f for f in expr.args if f.is_Add and f.has(sp.exp)] if expr.is_Mul else []
    if len(exps) != 1 or len(sums) != 1:
        return expr
    rest = sp.Mul(*(f for f in expr.args if f is not exps[0] and f is not sums[0]))
    return rest * _push_exp(exps[0], sums[0])


def fold_constants(expr: sp.Expr) -> sp.Expr:
    """Merge the numeric factors of every product (2/pi, sqrt(2), ...) into one float."""
    def fold(mul: sp.Mul) -> sp.Expr:
        coeff, rest = mul.as_independent(*mul.free_symbols, as_Add=False)
        if not coeff.is_number or coeff.is_Rational or rest == 1:
            return mul
        return sp.Float(coeff.evalf(20), 17) * rest

    return expr.replace(lambda e: e.is_Mul and e.free_symbols, fold)


@lru_cache(maxsize=256)
def careful(expr: sp.Expr) -> sp.Expr:
    """The float64-careful form of a derived expression (same value in exact arithmetic)."""
    expr = _in_edge_variable(expr)
    expr = expr.replace(lambda e: e.is_Add and e.has(OwenT), _owen_tails)
    expr = expr.replace(lambda e: e.is_Add and e.has(OwenTail), _owen_angles)
    expr = expr.replace(lambda e: e.is_Add and e.has(sp.asin), _acos)
    expr = expr.replace(lambda e: isinstance(e, sp.asin), lambda e: _asin(e.args[0]))
    expr = expr.replace(lambda e: isinstance(e, (sp.sinh, sp.cosh)), lambda e: e.rewrite(sp.exp))
    expr = expr.replace(lambda e: e.is_Mul, _distribute_exp)
    expr = expr.replace(lambda e: e.is_Add and e.has(sp.exp), _exp_sub)
    expr = expr.replace(_has_erf_term, _erf_to_erfc)
    expr = expr.replace(lambda e: e.is_Mul, _erfc_products)
    expr = expr.replace(lambda e: e.is_Add and e.has(sp.exp), _expm1)
    expr = expr.replace(lambda e: e.is_Add, _det_terms)
    return fold_constants(expr)


def _expm1(expr: sp.Expr) -> sp.Expr:
    """k*exp(z) - k -> k*expm1(z) inside a sum (no cancellation for small z).

    SymPy's ``sympy.codegen.rewriting.expm1_opt`` does the same but factors the sums it visits:
    exp(-(a+b)/2 - c)/2 + exp(-(a+b)/2 + c)/2 (sin's derivative map) comes back as the product
    (exp(c) + exp(-c)) exp(-a/2) exp(-b/2)/2, which overflows at variances of 1e3."""
    coeffs = dict(expr.as_coefficients_dict())
    const = coeffs.get(sp.S.One, sp.S.Zero)
    for term, k in coeffs.items():
        if isinstance(term, sp.exp) and const != 0 and k == -const:
            return expr - k * term - const + k * Expm1(term.args[0])
    return expr


def _erf_to_erfc(expr: sp.Expr) -> sp.Expr:
    """k - k*erf(z) -> k*erfc(z) and k + k*erf(z) -> k*erfc(-z) inside a sum."""
    coeffs = dict(expr.as_coefficients_dict())
    const = coeffs.pop(sp.S.One, sp.S.Zero)
    for term, k in list(coeffs.items()):
        if isinstance(term, sp.erf) and const != 0 and abs(k) == abs(const):
            z = term.args[0] if k == -const else -term.args[0]
            # SymPy's erfc where it keeps the argument (so equal terms of the sum merge and cancel)
            replacement = const * (Erfc(z) if z.could_extract_minus_sign() else sp.erfc(z))
            return expr - const - k * term + replacement
    return expr


def _one_plus_exp(expr: sp.Expr) -> sp.Expr | None:
    """w where expr is 1 + exp(w), else None."""
    if expr.is_Add and len(expr.args) == 2 and sp.S.One in expr.args:
        other = expr.args[1] if expr.args[0] == sp.S.One else expr.args[0]
        if isinstance(other, sp.exp):
            return other.args[0]
    return None


def _expit_product(expr: sp.Mul) -> sp.Expr:
    """exp(w)^j (1 + exp(w))^-k -> Expit(w)^j Expit(-w)^(k - j) among a product's factors."""
    factors = list(expr.args)
    for i, factor in enumerate(factors):
        if not (factor.is_Pow and factor.exp.is_Integer and factor.exp < 0):
            continue
        w = _one_plus_exp(factor.base)
        if w is None:
            continue
        k, j, rest = -factor.exp, 0, []
        for other in factors[:i] + factors[i + 1:]:
            ratio = sp.simplify(other.args[0] / w) if isinstance(other, sp.exp) else None
            if ratio is not None and ratio.is_Integer and 0 <= j + ratio <= k:
                j += ratio
            else:
                rest.append(other)
        return sp.Mul(*rest) * Expit(w) ** j * Expit(-w) ** (k - j)
    return expr


def logistic(expr: sp.Expr) -> sp.Expr:
    """The logistic forms of the module docstring (same value in exact arithmetic), outside
    Gaussian means (the printer looks those up as they are; their integrands are printed apart)."""
    if not expr.has(sp.exp):
        return expr
    means = {gm: sp.Dummy() for gm in expr.atoms(GaussianMean)}
    if means:
        return logistic(expr.xreplace(means)).xreplace({d: gm for gm, d in means.items()})
    expr = expr.replace(lambda e: isinstance(e, sp.log) and _one_plus_exp(e.args[0]) is not None,
                        lambda e: Softplus(_one_plus_exp(e.args[0])))
    expr = expr.replace(lambda e: e.is_Mul, _expit_product)
    return expr.replace(lambda e: e.is_Pow and e.exp.is_Integer and e.exp < 0 and _one_plus_exp(e.base) is not None,
                        lambda e: Expit(-_one_plus_exp(e.base)) ** -e.exp)
