"""The chest X-ray family: CheXpert, NIH ChestX-ray14, MIMIC-CXR-JPG and OpenI, one module
each, sharing the value parsing of `values.py`; `registry.yml` names their folders."""
