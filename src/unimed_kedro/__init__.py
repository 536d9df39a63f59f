"""unimed-kedro: medical vision-language training sets from public imaging datasets."""

from unimed_kedro import allocator

allocator.tune()  # before anything of ours imports pyarrow (see allocator.py)

__version__ = "0.1.0"
