"""Report figures: matplotlib (Agg) rendered to base64 PNG data URIs, byte-deterministic
(fixed DPI, no timestamp/software metadata), small enough to embed many in one HTML file."""

from __future__ import annotations

import base64
import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DPI = 80
PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]


def to_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def histograms(values: dict[str, np.ndarray], xlabel: str, limit: float | None = None, limit_label: str = "") -> str:
    fig, ax = plt.subplots(figsize=(4.2, 2.8))
    for i, (label, v) in enumerate(sorted(values.items())):
        v = np.asarray(v, float)
        v = v[np.isfinite(v)]
        if len(v):
            ax.hist(v, bins=min(30, max(5, len(v) // 3)), alpha=0.6, label=f"{label} (n={len(v)})", color=PALETTE[i % 8])
    if limit is not None:
        ax.axvline(limit, color="k", ls="--", lw=1, label=limit_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("scans")
    ax.legend(fontsize=7, frameon=False)
    return to_data_uri(fig)


def mean_sd_spectra(spectra: dict[str, tuple[np.ndarray, np.ndarray]], title: str, xlim=(4.2, 0.2),
                    ylabel: str = "") -> str:
    """spectra: label -> (ppm, matrix n_scans x n_points of real spectra on that ppm axis)."""
    fig, ax = plt.subplots(figsize=(5.0, 3.0))
    for i, (label, (ppm, mat)) in enumerate(sorted(spectra.items())):
        m, s = mat.mean(0), mat.std(0)
        c = PALETTE[i % 8]
        ax.plot(ppm, m, color=c, lw=1, label=f"{label} (n={mat.shape[0]})")
        ax.fill_between(ppm, m - s, m + s, color=c, alpha=0.25, lw=0)
    ax.set_xlim(*xlim)
    ax.set_xlabel("chemical shift (ppm)")
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    return to_data_uri(fig)


def forest(df: pd.DataFrame, est: str, lo: str, hi: str, label_cols, title: str, xlabel: str,
           highlight: str | None = None, max_rows: int = 40) -> str:
    d = df.dropna(subset=[est]).head(max_rows).iloc[::-1]
    h = 0.8 + 0.22 * max(len(d), 1)
    fig, ax = plt.subplots(figsize=(5.6, h))
    y = np.arange(len(d))
    colors = ["#c44e52" if (highlight and bool(r)) else "#4c72b0" for r in (d[highlight] if highlight else [False] * len(d))]
    ax.errorbar(d[est], y, xerr=[d[est] - d[lo], d[hi] - d[est]], fmt="none", ecolor=colors, elinewidth=1)
    ax.scatter(d[est], y, c=colors, s=14, zorder=3)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([" ".join(str(r[c]) for c in label_cols) for _, r in d.iterrows()], fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=9)
    return to_data_uri(fig)


def box_strip(groups: dict[str, np.ndarray], title: str, ylabel: str) -> str:
    fig, ax = plt.subplots(figsize=(3.2, 2.8))
    labels = list(groups)
    data = [np.asarray(groups[k], float) for k in labels]
    ax.boxplot(data, showfliers=False, widths=0.5)
    rng = np.random.default_rng(0)  # jitter only; fixed so the figure is deterministic
    for i, v in enumerate(data):
        ax.scatter(i + 1 + rng.uniform(-0.12, 0.12, len(v)), v, s=9, color=PALETTE[i % 8], alpha=0.8, zorder=3)
    ax.set_xticks(range(1, len(labels) + 1))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=8)
    return to_data_uri(fig)


def scatter_fit(x, y, title: str, xlabel: str, ylabel: str) -> str:
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    fig, ax = plt.subplots(figsize=(3.4, 2.8))
    ax.scatter(x, y, s=12, color=PALETTE[0])
    if len(x) >= 3 and np.ptp(x) > 0:
        b, a = np.polyfit(x, y, 1)
        xx = np.linspace(x.min(), x.max(), 20)
        ax.plot(xx, a + b * xx, color=PALETTE[3], lw=1.2)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=8)
    return to_data_uri(fig)


def spaghetti(d: pd.DataFrame, time_levels, title: str, ylabel: str) -> str:
    """d: columns subject, arm, time, value. One panel per arm; subject lines plus arm means."""
    arms = sorted(d["arm"].unique())
    fig, axes = plt.subplots(1, len(arms), figsize=(2.4 * len(arms) + 0.6, 2.8), sharey=True, squeeze=False)
    pos = {t: i for i, t in enumerate(time_levels)}
    for ax, arm, c in zip(axes[0], arms, PALETTE):
        da = d[d["arm"] == arm]
        for _, s in da.groupby("subject"):
            s = s.sort_values("time", key=lambda t: t.map(pos))
            ax.plot(s["time"].map(pos), s["value"], color=c, alpha=0.45, lw=0.8, marker="o", ms=2.5)
        m = da.groupby("time")["value"].mean().reindex(time_levels)
        ax.plot(range(len(time_levels)), m.to_numpy(), color="k", lw=2)
        ax.set_xticks(range(len(time_levels)))
        ax.set_xticklabels(time_levels, fontsize=8)
        ax.set_title(f"{arm} (n={da['subject'].nunique()})", fontsize=8)
    axes[0][0].set_ylabel(ylabel, fontsize=8)
    fig.suptitle(title, fontsize=9)
    return to_data_uri(fig)


def recovery_plot(rec: pd.DataFrame) -> str:
    d = rec.dropna(subset=["estimate"])
    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    for i, (kind, k) in enumerate(d.groupby("kind")):
        ax.errorbar(k["truth"], k["estimate"], yerr=[k["estimate"] - k["ci_low"], k["ci_high"] - k["estimate"]],
                    fmt="o", ms=3, lw=0.8, color=PALETTE[i % 8], label=kind)
    if len(d):
        lim = [min(d["truth"].min(), d["ci_low"].min()), max(d["truth"].max(), d["ci_high"].max())]
        if all(map(math.isfinite, lim)):
            ax.plot(lim, lim, "k--", lw=0.8)
    ax.set_xlabel("planted value")
    ax.set_ylabel("estimate (95% CI)")
    ax.legend(fontsize=7, frameon=False)
    return to_data_uri(fig)
