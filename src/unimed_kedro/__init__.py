"""unimed-kedro: medical vision-language training sets from public imaging datasets."""

__version__ = "0.1.0"

# The runner `kedro run` uses when none is given (set in cli.py, omitted from the command
# line that reports record).
DEFAULT_RUNNER = "ThreadRunner"
