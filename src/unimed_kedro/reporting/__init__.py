"""Reports of a built collection: chart data, charts (plotly JSON and static SVG), the
thumbnail sheet, run provenance and the data card (HTML and Markdown).

Functions here take plain tables and dicts; the `report` stage pipeline feeds them.
"""
