"""`migo-sync docs build`: a static site of the dictionary, the lineage graph, the zones and the last runs."""
