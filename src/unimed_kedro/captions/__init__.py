"""Where captions are made: `seeded` (the per-sample generator every choice uses) and one
folder per collection family (`cxr/`: report text, label templates, the structured
caption of the chest X-ray downloader)."""
