"""genolm.editing: CRISPR-Cas9 guide design.

- :mod:`~genolm.editing.guides`: guide validation (one bad guide never stops the others) and encoding
- :mod:`~genolm.editing.cfd`: CFD off-target scores from the published Doench 2016 tables (shipped in ``data/``)
- :mod:`~genolm.editing.offtarget`: exact genome-wide off-target search (pigeonhole seed index + verify)
- :mod:`~genolm.editing.ontarget`: on-target efficiency regression (CNN ensemble + gradient boosting)
- :mod:`~genolm.editing.design`: candidate guides in a region or gene, scored, flagged and ranked
"""
