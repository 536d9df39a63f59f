"""Chest X-ray captions: report and label-template text (`text`), the downloader's
structured caption (`structured`) and the caption node over a collection's records
(`records`)."""
