"""The power cuts of test_power_cut_txn.py (acks=all idempotent and plain producers, a
transactional producer committing and aborting, a committing group member) with 50 cycles (20 under CI) on the
per-file durability path (``STREAMLOG_POWER_CUT_LONG_CYCLES`` to change it): about five
minutes on a 2-core machine."""

from tests.support.powercut_txn import long_txn_test

test_transactions_and_group_commits_survive_50_power_cuts_file = long_txn_test("file")
