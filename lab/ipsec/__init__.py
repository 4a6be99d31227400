"""IPsec building blocks that touch nothing: DPD arithmetic, keys, Azure's proposals, charon's configuration
as data and as rendered files, SA state and log diagnosis. lab/runtime/ipsec runs charon with them."""
