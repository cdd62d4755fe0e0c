"""Exception hierarchy: every error the library raises on bad input is a KernelalgError."""


class KernelalgError(Exception):
    """Base class of all kernelalg errors; the CLI prints it as one line and exits with code 2."""


class UnknownFunctionError(KernelalgError, KeyError):
    """A catalog or preset name that does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ExpressionError(KernelalgError, ValueError):
    """An expression that cannot be parsed, is unsafe, or has free symbols other than x."""


class NotIntegrableError(KernelalgError, ValueError):
    """A function whose Gaussian expectation does not exist (e.g. exp(x**3))."""


class CovarianceError(KernelalgError, ValueError):
    """A covariance (a, b, c) that is not positive semidefinite or not finite."""


class InputError(KernelalgError, ValueError):
    """Non-finite arrays, mismatched shapes, bad parameters."""


class DerivationError(KernelalgError, RuntimeError):
    """The symbolic engine could not handle a function (e.g. derivative of a delta)."""


class DerivationBudgetError(DerivationError, TimeoutError):
    """A derivation did not finish within its time budget (``KERNELALG_DERIVE_SECONDS``)."""


class NumericalError(KernelalgError, ArithmeticError):
    """A computation produced NaN or an infinity that is not a divergence of the kernel."""


class MemoryLimitError(KernelalgError, MemoryError):
    """The requested result would not fit into the available memory."""


class OutputError(KernelalgError, OSError):
    """An output file or folder that cannot be written, or exists and may not be replaced."""


class SingularKernelError(KernelalgError, ArithmeticError):
    """The train kernel matrix is singular and cannot be solved."""


class SimulationError(KernelalgError, RuntimeError):
    """A spiking simulation failed, e.g. its event budget was exhausted."""


class CacheWarning(UserWarning):
    """The derivation cache could not be used (unreadable, unwritable, full); computing without it."""
