"""Regenerate data/observed.csv: one epidemic from known parameters, the "truth" the demo calibrates back.

    uv run python examples/sir/generate_observed.py

The file is committed, so the demo never depends on running this; the truth is kept next to it in truth.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from sir_model import simulate

HERE = Path(__file__).resolve().parent
TRUTH = {"beta": 0.35, "gamma": 0.12}
SEED = 20_261_124


def main() -> None:
    outputs = simulate(TRUTH, SEED)
    observed = outputs["incidence"]
    (HERE / "data").mkdir(exist_ok=True)
    observed.write_csv(HERE / "data" / "observed.csv")
    (HERE / "data" / "truth.json").write_text(json.dumps({"params": TRUTH, "seed": SEED}, indent=2) + "\n")
    print(f"wrote {HERE / 'data' / 'observed.csv'} ({observed.height} days, {int(observed['cases'].sum())} cases)")


if __name__ == "__main__":
    main()
