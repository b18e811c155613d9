#!/usr/bin/env python3
"""Draws fetch --compare's table as a line chart (seconds against the number of fetches, one
line per way of fetching), as the course texts plot it.

usage: plot_compare.py OUTPUT.png FREQUENCIES SEQUENTIAL THREADING ASYNCIO
(each a comma-separated list, one value per frequency).

Exit status 3 with one line on stderr when matplotlib is missing (fetch then says "plot skipped"),
2 for bad arguments.
"""

import sys

UNAVAILABLE = 3


def numbers(text, kind):
    return [kind(value) for value in text.split(",")]


def main(argv):
    if len(argv) != 6:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    output, frequencies, sequential, threading, asyncio = argv[1:]
    try:
        frequencies = numbers(frequencies, int)
        series = [numbers(values, float) for values in (sequential, threading, asyncio)]
    except ValueError as error:
        print(f"bad number: {error}", file=sys.stderr)
        return 2
    if any(len(values) != len(frequencies) for values in series):
        print("every list needs one value per frequency", file=sys.stderr)
        return 2
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError as error:
        print(f"matplotlib is not installed ({error}; apt-get install python3-matplotlib)",
              file=sys.stderr)
        return UNAVAILABLE

    figure, axes = plt.subplots(figsize=(8, 5))
    for label, values in zip(("Sequential", "Threading", "Asyncio"), series):
        axes.plot(frequencies, values, marker="o", label=label)
    axes.set_xlabel("Frequency (fetches)")
    axes.set_ylabel("Seconds")
    axes.set_title("fetch --compare")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(output, dpi=100)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
