"""Validation experiments of the SG-NTK (MATH.md section 6), shared by ``kernelalg validate``
(quick settings) and the scripts in ``derivations/`` (full settings, figures, metrics JSON)."""
