"""unimed-kedro: medical vision-language training sets from public imaging datasets."""

__version__ = "0.1.0"
