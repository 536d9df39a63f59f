"""Kedro datasets of this project, one class per module (as in kedro-datasets)."""

from unimed_kedro.datasets.chunk_store_dataset import ChunkStoreDataset
from unimed_kedro.datasets.csv_table_dataset import CSVTableDataset
from unimed_kedro.datasets.file_folder_dataset import FileFolderDataset
from unimed_kedro.datasets.files_layout_dataset import FilesLayoutDataset
from unimed_kedro.datasets.json_file_dataset import JSONFileDataset
from unimed_kedro.datasets.parquet_table_dataset import ParquetTableDataset
from unimed_kedro.datasets.plotly_figure_dataset import PlotlyFigureDataset
from unimed_kedro.datasets.png_dataset import PngDataset
from unimed_kedro.datasets.raw_source_dataset import RawSourceDataset
from unimed_kedro.datasets.text_dataset import TextDataset
from unimed_kedro.datasets.webdataset_dataset import WebDatasetDataset

__all__ = [
    "CSVTableDataset",
    "ChunkStoreDataset",
    "FileFolderDataset",
    "FilesLayoutDataset",
    "JSONFileDataset",
    "ParquetTableDataset",
    "PlotlyFigureDataset",
    "PngDataset",
    "RawSourceDataset",
    "TextDataset",
    "WebDatasetDataset",
]
