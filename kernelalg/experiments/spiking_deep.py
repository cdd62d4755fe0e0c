"""Deep, initially silent theta network with time-to-first-spike coding (docs/spiking.md section 8.4).

Theta neurons (tau = 6/pi, drive 5/4, so the period is Theta = 6 = 3 T with T = 2) in two
hidden layers and one output layer, all-to-all between consecutive layers.  A feature x in
(0, 1] becomes one input spike at t_max (1 - x); x = 0 sends none.  The initial phases start
at Theta / 2, so an unperturbed neuron would first fire at t = 3 > T and, with small initial
weights, the whole network is silent: it learns from pseudospikes alone at first.

Output time of class c: the first ordinary spike of output neuron c, else its first
pseudospike T + Theta - H(phi_T, input) driven by the layer-wise pseudo rates (two passes).
Loss per sample: -log softmax(-t)[label] + gamma (exp(t_label / T) - 1).  Trainable: all
weights and the initial phases (clipped to [0, Theta]); AdaBelief with an exponentially
decaying learning rate.  The prediction is argmin t; "ordinary" accuracy replaces
pseudospikes by T (all-silent outputs predict class 0, as in the reference).

Defaults per data set (``DEFAULTS``): Yin-Yang's four coordinates are population coded, each
by 8 Gaussian receptive fields whose responses are the spike intensities (a theta neuron far
from threshold barely resolves the arrival time of a few kicks, so the plain four-spike code
learns slowly); the digits' 64 pixel intensities are coded directly (a blank pixel sends no
spike).  gamma = 0.03-0.05 pulls the label neuron's first spike into the trial faster than the
reference's 0.01 with the same loss.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from kernelalg import datasets
from kernelalg.errors import InputError
from kernelalg.optim import AdaBelief
from kernelalg.progress import progress
from kernelalg.spiking.backward import backward
from kernelalg.spiking.models import Theta
from kernelalg.spiking.outputs import output_times, output_vjp, rate_inputs, rate_inputs_vjp
from kernelalg.spiking.simulate import Trace, simulate

MODEL = Theta(tau=6 / np.pi)
T = 2.0
DATASETS = ("yinyang", "digits", "mnist")


@dataclass(frozen=True)
class DeepConfig:
    """One training run.  ``train_size``/``test_size`` take the first samples (quick runs)."""

    dataset: str = "yinyang"
    path: str | None = None  # MNIST folder with the IDX files
    hidden: tuple[int, int] = (100, 100)
    epochs: int = 100
    batch: int = 100
    lr: float = 4e-3
    decay_epochs: float = 100.0  # learning rate lr * exp(-epoch / decay_epochs)
    gamma: float = 1e-2
    w_scale: float = 0.5  # initial weights U(+-w_scale / sqrt(fan_in))
    t_max: float = 1.0  # input spikes lie in [0, t_max)
    fields: int = 0  # > 1: Gaussian receptive fields per feature (population code)
    train_size: int | None = None
    test_size: int | None = None
    seed: int = 0

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise InputError(f"unknown data set {self.dataset!r}; choose {', '.join(DATASETS)}")
        checks = {"epochs >= 0": self.epochs >= 0, "batch >= 1": self.batch >= 1, "lr > 0": self.lr > 0,
                  "decay_epochs > 0": self.decay_epochs > 0, "gamma >= 0": self.gamma >= 0,
                  "w_scale > 0": self.w_scale > 0, "0 < t_max < T": 0 < self.t_max < T,
                  "fields = 0 or >= 2": self.fields == 0 or self.fields >= 2,
                  "hidden sizes >= 1": len(self.hidden) == 2 and min(self.hidden) >= 1}
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            raise InputError(f"deep network configuration needs {', '.join(failed)}")


DEFAULTS = {
    "yinyang": DeepConfig("yinyang", hidden=(60, 60), epochs=30, decay_epochs=30, gamma=0.05, fields=8),
    "digits": DeepConfig("digits", epochs=80, decay_epochs=80, batch=25, gamma=0.03, w_scale=0.3),
    "mnist": DeepConfig("mnist", epochs=30, decay_epochs=30, gamma=0.05, t_max=0.5),
}
QUICK = {"hidden": (20, 20), "epochs": 6, "batch": 50, "lr": 2e-2, "train_size": 400, "test_size": 200}
QUICK_DIGITS = {"hidden": (40, 40), "epochs": 10, "batch": 25, "lr": 1e-2, "train_size": 600}  # slower start


def config_for(dataset: str, path: str | None = None, quick: bool = False) -> DeepConfig:
    """The default configuration of a data set; ``quick``: a small network on a subset, a few epochs."""
    config = replace(DEFAULTS.get(dataset) or DeepConfig(dataset), path=path)
    if not quick:
        return config
    return replace(config, **{**QUICK, **(QUICK_DIGITS if dataset == "digits" else {})})


def load(config: DeepConfig) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Train and test sets: Yin-Yang (5000 / 1000), digits (fixed 75 / 25 % split), MNIST."""
    if config.dataset == "yinyang":
        train, _, test = datasets.yinyang_splits()
    elif config.dataset == "digits":
        data = datasets.digits()
        order = np.random.default_rng(0).permutation(len(data.y))
        cut = int(0.75 * len(order))
        train = datasets.Dataset(data.X[order[:cut]], data.y[order[:cut]], data.classes)
        test = datasets.Dataset(data.X[order[cut:]], data.y[order[cut:]], data.classes)
    else:  # mnist (the configuration admits only the three)
        if not config.path:
            raise InputError("the mnist data set needs the folder of its IDX files")
        train, test = datasets.mnist(config.path, "train"), datasets.mnist(config.path, "test")

    def head(d: datasets.Dataset, n: int | None) -> datasets.Dataset:
        X = d.X if config.fields < 2 else receptive_fields(d.X, config.fields)
        return datasets.Dataset(X[:n], d.y[:n], d.classes)

    return head(train, config.train_size), head(test, config.test_size)


def receptive_fields(X: np.ndarray, fields: int, cutoff: float = 0.05) -> np.ndarray:
    """Population code: each feature x in [0, 1] drives ``fields`` Gaussian receptive fields
    exp(-(x - c_j)^2 / (2 s^2)), centres c_j = j / (fields - 1), s = 1 / (fields - 1);
    responses below ``cutoff`` are set to 0 (no spike).  Shape (n, d) -> (n, d * fields)."""
    centres = np.linspace(0.0, 1.0, fields)
    r = np.exp(-0.5 * ((np.asarray(X, float)[..., None] - centres) * (fields - 1)) ** 2)
    return np.where(r >= cutoff, r, 0.0).reshape(len(X), -1)


def encode(X: np.ndarray, t_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Time-to-first-spike code: feature x in (0, 1] spikes at t_max (1 - x), x = 0 never.
    Returns input times (B, S) (inf pads) and sources (B, S), S = the most spikes of a sample."""
    X = np.asarray(X, float)
    times = np.where(X > 0, t_max * (1 - X), np.inf)
    order = np.argsort(times, axis=1, kind="stable")
    S = max(int(np.isfinite(times).sum(axis=1).max()), 1)
    return np.take_along_axis(times, order, 1)[:, :S], order[:, :S]


@dataclass(frozen=True)
class Network:
    """Layer sizes (inputs, hidden 1, hidden 2, outputs), the input window, and the block
    structure of the simulated network: W_in feeds hidden 1, W_net[h2, h1] = W2 and W_net[out, h2] = W3."""

    sizes: tuple[int, int, int, int]
    t_max: float = 1.0  # input spikes lie in [0, t_max)

    @property
    def N(self) -> int:
        return sum(self.sizes[1:])

    def blocks(self) -> list[tuple[slice, slice]]:
        _, h1, h2, c = self.sizes
        return [(slice(h1, h1 + h2), slice(0, h1)), (slice(h1 + h2, h1 + h2 + c), slice(h1, h1 + h2))]

    @property
    def outputs(self) -> range:
        return range(self.N - self.sizes[3], self.N)

    def init(self, rng: np.random.Generator, w_scale: float) -> list[np.ndarray]:
        """[W1, W2, W3, phi0]: U(+-w_scale / sqrt(fan_in)) weights, phases Theta / 2."""
        n = self.sizes
        weights = [rng.uniform(-1, 1, (n[i + 1], n[i])) * w_scale / np.sqrt(n[i]) for i in range(3)]
        return weights + [np.full(self.N, MODEL.period / 2)]

    def matrices(self, params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """W_in (N, Nin), W_net (N, N) and x0 (1, 1, N) of the simulation."""
        W1, W2, W3, phi0 = params
        W_in = np.zeros((self.N, self.sizes[0]))
        W_in[: self.sizes[1]] = W1
        W_net = np.zeros((self.N, self.N))
        for (rows, cols), W in zip(self.blocks(), (W2, W3)):
            W_net[rows, cols] = W
        return W_in, W_net, phi0[None, None, :]


@dataclass(frozen=True)
class Batch:
    """One simulated batch: output times (B, C), their pseudo mask, hidden spike counts (B, H)."""

    out: np.ndarray
    pseudo: np.ndarray
    hidden_spikes: np.ndarray
    output_spikes: np.ndarray
    trace: Trace = field(repr=False)
    inputs: np.ndarray = field(repr=False)


def run_batch(net: Network, params, X: np.ndarray) -> Batch:
    """Simulate a batch of samples and read the output times (first spike or pseudospike)."""
    W_in, W_net, x0 = net.matrices(params)
    times, sources = encode(X, net.t_max)
    trace = simulate(MODEL, W_in, W_net, np.broadcast_to(x0, (len(X), 1, net.N)), times, sources, T,
                     max_events=times.shape[1] + 3 * net.N + 8, gradients=False)
    inputs, _ = rate_inputs(MODEL, trace, W_net, passes=2)
    outs = [output_times(MODEL, trace, o, 1, inputs) for o in net.outputs]
    counts = trace.spike_counts()
    H = net.sizes[1] + net.sizes[2]
    return Batch(np.stack([o[0][:, 0] for o in outs], 1), np.stack([o[2][:, 0] for o in outs], 1),
                 counts[:, :H], counts[:, H:], trace, inputs)


def loss_terms(out: np.ndarray, labels: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample loss -log softmax(-t)[y] + gamma (exp(t_y / T) - 1) and its gradient in t."""
    z = -out - (-out).max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    t_y = out[rows, labels]
    loss = -np.log(p[rows, labels]) + gamma * np.expm1(t_y / T)
    grad = -p
    grad[rows, labels] += 1.0 + gamma * np.exp(t_y / T) / T
    return loss, grad


def loss_and_grad(net: Network, params, X: np.ndarray, y: np.ndarray, gamma: float):
    """Mean batch loss and its exact gradient [dW1, dW2, dW3, dphi0]."""
    batch = run_batch(net, params, X)
    losses, d_out = loss_terms(batch.out, y, gamma)
    d_out /= len(y)
    trace, W_in, W_net = batch.trace, *net.matrices(params)[:2]
    dL_dt, dL_dx, dL_din = 0.0, 0.0, 0.0
    for c, o in enumerate(net.outputs):
        a, b, d = output_vjp(MODEL, trace, o, 1, d_out[:, c:c + 1], batch.inputs)
        dL_dt, dL_dx, dL_din = dL_dt + a, dL_dx + b, dL_din + d
    dW_rate, dx_rate = rate_inputs_vjp(MODEL, trace, W_net, dL_din, passes=2)
    g = backward(MODEL, trace, W_in, W_net, dL_dt, dL_dx + dx_rate)
    gW = g.W_net + dW_rate
    grads = [g.W_in[: net.sizes[1]]] + [gW[rows, cols] for rows, cols in net.blocks()] + [g.x0.sum(axis=0)[0]]
    return float(losses.mean()), grads, batch


def evaluate(net: Network, params, data: datasets.Dataset, gamma: float, chunk: int = 500) -> dict:
    """Test metrics: loss and accuracy with pseudospikes and with ordinary spikes only (output
    times clipped to T), hidden spikes per neuron and sample, fraction of hidden neurons silent
    on the whole set, output spikes per sample."""
    outs, counts, out_spikes = [], [], []
    for start in range(0, len(data.y), chunk):
        b = run_batch(net, params, data.X[start:start + chunk])
        outs.append(b.out)
        counts.append(b.hidden_spikes)
        out_spikes.append(b.output_spikes.sum(axis=1))
    out, counts = np.concatenate(outs), np.concatenate(counts)
    ordinary = np.minimum(out, T)
    return {"loss": float(loss_terms(out, data.y, gamma)[0].mean()),
            "acc": float(np.mean(np.argmin(out, axis=1) == data.y)),
            "acc_ordinary": float(np.mean(np.argmin(ordinary, axis=1) == data.y)),
            "loss_ordinary": float(loss_terms(ordinary, data.y, gamma)[0].mean()),
            "activity": float(counts.mean()),
            "silent": float(np.mean(counts.sum(axis=0) == 0)),
            "output_spikes": float(np.concatenate(out_spikes).mean())}


def raster(net: Network, params, x: np.ndarray) -> dict:
    """Spike times and neuron indices of one sample (for the figure)."""
    trace = run_batch(net, params, x[None]).trace
    spikes = (trace.index[0] >= 0) & ~trace.is_input[0]
    return {"t": trace.t[0][spikes].tolist(), "neuron": trace.index[0][spikes].tolist()}


def train(config: DeepConfig, show_progress: bool = True, on_epoch=None) -> dict:
    """Train one network; returns per-epoch test metrics (epoch 0 = before training), the
    final metrics, rasters of the first test sample before and after, and the seconds spent.
    ``on_epoch(epoch, train_loss, test_metrics)`` is called after every epoch (logging)."""
    train_set, test_set = load(config)
    rng = np.random.default_rng(config.seed)
    net = Network((train_set.X.shape[1], *config.hidden, train_set.classes), config.t_max)
    params = net.init(rng, config.w_scale)
    steps = -(-len(train_set.y) // config.batch)
    opt = AdaBelief(config.lr, decay=np.exp(-1 / (config.decay_epochs * steps)))
    state = opt.init(params)
    start = time.perf_counter()
    history = [evaluate(net, params, test_set, config.gamma)]
    before = raster(net, params, test_set.X[0])
    train_loss = []
    for _ in progress(range(config.epochs), desc=f"{config.dataset} seed {config.seed}", enabled=show_progress):
        order = rng.permutation(len(train_set.y))
        epoch_loss = 0.0
        for s in range(steps):
            idx = order[s * config.batch:(s + 1) * config.batch]
            loss, grads, _ = loss_and_grad(net, params, train_set.X[idx], train_set.y[idx], config.gamma)
            params, state = opt.step(params, grads, state)
            params[3] = np.clip(params[3], 0.0, MODEL.period)
            epoch_loss += loss * len(idx) / len(train_set.y)
        train_loss.append(epoch_loss)
        history.append(evaluate(net, params, test_set, config.gamma))
        if on_epoch is not None:
            on_epoch(len(train_loss), epoch_loss, history[-1])
    return {"config": asdict(config), "sizes": list(net.sizes), "history": history, "train_loss": train_loss,
            "final": history[-1], "seconds": time.perf_counter() - start,
            "raster_before": before, "raster_after": raster(net, params, test_set.X[0]),
            "label": int(test_set.y[0])}


def run(config: DeepConfig, seeds: int = 3, jobs: int = 1, show_progress: bool = True) -> dict:
    """``seeds`` independent runs (seeds config.seed, config.seed + 1, ...), ``jobs`` at a time.
    Summary: means over the seeds of the final test accuracy with pseudospikes and with
    ordinary spikes only, and of the silent fraction of hidden neurons before and after."""
    if seeds < 1 or jobs < 1:
        raise InputError(f"seeds and jobs must be >= 1, got {seeds} and {jobs}")
    configs = [replace(config, seed=config.seed + k) for k in range(seeds)]
    start = time.perf_counter()
    if jobs == 1:
        runs = [train(c, show_progress) for c in configs]
    else:
        with ProcessPoolExecutor(min(jobs, seeds)) as pool:
            runs = list(progress(pool.map(train, configs, [False] * seeds), total=seeds,
                                 desc=f"{config.dataset}: {seeds} seeds", enabled=show_progress))
    finals = [r["final"] for r in runs]

    def stats(key: str, where=lambda r: r["final"]) -> tuple[float, float]:
        values = [where(r)[key] for r in runs]
        return float(np.mean(values)), float(np.std(values))

    summary = {"test_acc": stats("acc")[0], "test_acc_ordinary": stats("acc_ordinary")[0],
               "silent_before": stats("silent", lambda r: r["history"][0])[0],
               "silent_after": stats("silent")[0], "seconds": time.perf_counter() - start}
    details = {"test_acc_std": stats("acc")[1], "test_acc_ordinary_std": stats("acc_ordinary")[1],
               "activity_before": stats("activity", lambda r: r["history"][0])[0],
               "activity_after": stats("activity")[0],
               "output_spikes_before": stats("output_spikes", lambda r: r["history"][0])[0],
               "output_spikes_after": stats("output_spikes")[0],
               "seeds": seeds, "jobs": jobs, "per_seed_acc_ordinary": [f["acc_ordinary"] for f in finals],
               "per_seed_seconds": [r["seconds"] for r in runs]}
    return {"metrics": summary, "details": details, "runs": runs}


def figure(result: dict, path, overwrite: bool = False) -> None:
    """Rasters of the first test sample before and after training (first seed), and the test
    error with and without pseudospikes and the silent fraction over the epochs (mean +- std)."""
    from kernelalg.experiments.figures import pyplot, save

    plt = pyplot()
    runs = result["runs"]
    sizes = runs[0]["sizes"]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    for ax, key, title in ((axes[0], "raster_before", "before training"), (axes[1], "raster_after", "after training")):
        r = runs[0][key]
        t, n = np.array(r["t"]), np.array(r["neuron"])
        bounds = np.cumsum(sizes[1:])
        for layer, (lo, hi) in enumerate(zip([0, *bounds[:-1]], bounds)):
            sel = (n >= lo) & (n < hi)
            ax.scatter(t[sel], n[sel], s=4, color=f"C{layer}",
                       label=("hidden 1", "hidden 2", "output")[layer])
        for b in bounds[:-1]:
            ax.axhline(b - 0.5, color="0.7", lw=0.5)
        ax.set(xlim=(0, T), ylim=(-1, bounds[-1]), xlabel="time", ylabel="neuron",
               title=f"{title} ({len(t)} spikes, label {runs[0]['label']})")
        ax.legend(fontsize=7, loc="upper left")
    epochs = np.arange(1, len(runs[0]["history"]) + 1)
    for ax, keys, ylabel in ((axes[2], (("acc", "with pseudospikes"), ("acc_ordinary", "ordinary spikes only")),
                              "test error"),
                             (axes[3], (("silent", "silent hidden neurons"), ("activity", "hidden spikes per neuron")),
                              "fraction / spikes per sample")):
        for k, (key, label) in enumerate(keys):
            values = np.array([[h[key] for h in r["history"]] for r in runs])
            values = 1 - values if key.startswith("acc") else values
            mean, std = values.mean(axis=0), values.std(axis=0)
            ax.plot(epochs, mean, color=f"C{k}", label=label)
            ax.fill_between(epochs, mean - std, mean + std, color=f"C{k}", alpha=0.3)
        ax.set_xscale("log")
        ax.set(xlabel="epoch + 1", ylabel=ylabel)
        ax.legend(fontsize=7)
    axes[2].set_yscale("log")
    axes[2].set_title(f"{runs[0]['config']['dataset']}: {len(runs)} seeds")
    fig.tight_layout()
    save(fig, path, overwrite, dpi=150)
