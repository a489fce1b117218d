"""The knowledge site's own logic, free of MkDocs.

MkDocs hooks (``hooks/``) and the submission server call into this package; nothing
here imports MkDocs, so a change of site engine touches the adapters only.
"""
