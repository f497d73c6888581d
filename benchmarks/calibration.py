"""What `vqa2 calibrate` costs after the scores exist: k-fold CV of the three kinds + the bootstrap, by
number of labelled videos, wall and CPU seconds side by side in one run (synthetic scores, 1-5 MOS).

    OMP_NUM_THREADS=1 python benchmarks/calibration.py
"""

from __future__ import annotations

import time

import numpy as np

from vqa2cli.calibration.select import choose


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'n':>6} {'n_boot':>7} {'wall_s':>8} {'cpu_s':>8} {'chosen':>10} {'after_rmse':>10}")
    for n in (30, 100, 300):
        x = rng.uniform(0.1, 0.9, n)
        y = 1 + 4 / (1 + np.exp(-(x - 0.5) / 0.1)) + rng.normal(0, 0.2, n)
        for n_boot in (200, 1000):
            wall, cpu = time.perf_counter(), time.process_time()
            _, report = choose(x, y, n_boot=n_boot)
            print(
                f"{n:>6} {n_boot:>7} {time.perf_counter() - wall:>8.2f} {time.process_time() - cpu:>8.2f} "
                f"{report['chosen']:>10} {report['after']['rmse']['value']:>10.4f}"
            )


if __name__ == "__main__":
    main()
