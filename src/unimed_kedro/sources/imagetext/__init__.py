"""UniMed's image–text sources beside the chest X-ray ones: RadImageNet, the retinal
datasets, Quilt-1M, PMC-OA, ROCOv2 and LLaVA-Med, each read from its official files."""
