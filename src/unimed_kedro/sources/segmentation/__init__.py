"""The 3D segmentation family (SAT-DS's datasets): one reader per layout family (MSD,
nnU-Net v2, TotalSegmentator, image/mask pairs), each dataset a registry entry
(`registry.yml`), and `unlisted` for MSD / nnU-Net folders no entry names."""
