"""The directory (units, departments, sections, staff and their roles) and the matter
catalogue (what a matter is, how to recognise it, who handles it, its time limit and the
complete list of required materials, or the external body that handles it)."""
