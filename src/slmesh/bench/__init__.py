"""`slmesh bench`: latency, throughput, cold start and memory of slmesh beside the article's stack."""
