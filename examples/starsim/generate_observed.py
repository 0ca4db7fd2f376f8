"""Regenerate data/observed.csv for the Starsim example: one run of the agent-based SIR from known parameters.

uv run --extra starsim python examples/starsim/generate_observed.py
"""

from __future__ import annotations

import json
from pathlib import Path

from starsim_model import simulate

HERE = Path(__file__).resolve().parent
TRUTH = {"beta": 0.02, "dur_inf": 8.0}
SEED = 20_261_124


def main() -> None:
    observed = simulate(TRUTH, SEED)["incidence"]
    (HERE / "data").mkdir(exist_ok=True)
    observed.write_csv(HERE / "data" / "observed.csv")
    (HERE / "data" / "truth.json").write_text(json.dumps({"params": TRUTH, "seed": SEED}, indent=2) + "\n")
    print(f"wrote {HERE / 'data' / 'observed.csv'} ({observed.height} weeks, {int(observed['cases'].sum())} cases)")


if __name__ == "__main__":
    main()
