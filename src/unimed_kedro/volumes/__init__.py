"""3D per-item work for the SAT-DS-style collections: raw volumes (NIfTI, NRRD,
MetaImage) and their segmentation masks read with their limits and link rule
(`read`), oriented and resampled (`geometry`), normalised by modality (`intensity`),
masks checked, packed and cropped per label (`masks`), the chunk function and its rows
(`process`), overlays of stored samples for the report (`overlay`); settings in `options`.
"""
