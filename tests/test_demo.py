"""`foliogate demo` (what `make demo` runs): the whole product end to end, in a real process."""

import subprocess
import sys


def test_demo_posts_the_spa_deposit_journey_and_every_invariant_holds(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "demo", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "leg evt_demo_deposit/0: waiting (guest not in house" in out
    assert "leg evt_demo_deposit/0: posted" in out
    assert "leg evt_demo_redeem/0: posted" in out
    assert "balance the PMS reports after the journey (BA): 0.00 GBP" in out
    assert "[ok] deposit_group_nets_zero" in out
    assert "FAIL" not in out
    assert out.rstrip().endswith("demo: OK, every leg posted and every invariant holds")
    # the journal is a real SQLite file left where we asked
    assert (tmp_path / "journal.sqlite").exists()
