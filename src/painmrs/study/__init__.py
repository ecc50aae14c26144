"""The study input contract: config (``config``), MRS-BIDS layout (``layout``), study tables
(``tables``) and the cross-checked scan inventory (``inventory``)."""
