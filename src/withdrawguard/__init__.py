"""withdrawguard: a streaming detector that holds withdrawals when a change of the
withdrawal destination precedes them. Importing the package does nothing else."""

__version__ = "0.1.0"
