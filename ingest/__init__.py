"""ingest — outside sources into connectome stores.

Sources: C. elegans datasets of ``cect`` (:mod:`ingest.celegans`), the larval
*Drosophila* connectome (:mod:`ingest.larva`), FlyWire Codex and neuPrint
release files and generic edge lists (:mod:`ingest.release`). Column names are
renamed once, here, to the project's (:mod:`ingest.tables`). Remote clients
(caveclient, cloud-volume) are imported only inside the functions that use them.
"""
