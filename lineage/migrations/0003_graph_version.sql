-- The version of each tenant's lineage graph: bumped in the transaction that adds edges (edges are insert-only), so
-- a reader holding the graph in memory checks one row instead of counting the edges.
CREATE TABLE graph_versions (
  tenant text PRIMARY KEY,
  version bigint NOT NULL
);
INSERT INTO graph_versions (tenant, version) SELECT tenant, count(*) FROM edges GROUP BY tenant;
