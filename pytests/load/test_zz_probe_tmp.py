from loaders.load import load
H = "Op,dms_commit_ts,InventoryId,Sku,LocationCode,QtyOnHand,ModifiedAt,dms_change_seq"

def test_cases(database, tmp_path):
    from loaders.source_tables import ALL_TABLES
    t = next(t for t in ALL_TABLES if t.name == "Carriers" or t.raw_table == "carriers")
    cases = {
        "padded-header": b"carrier_id, carrier_name ,scac,mode,updated_at\nC7,K,KHLT,ROAD,2026-11-02T06:00:00Z\n",
        "mixed-crlf": b"carrier_id,carrier_name,scac,mode,updated_at\r\nC7,K,KHLT,ROAD,2026-11-02T06:00:00Z\nC8,K,KHLT,ROAD,2026-11-02T06:00:00Z\r\n",
        "lone-cr": b"carrier_id,carrier_name,scac,mode,updated_at\rC7,K,KHLT,ROAD,2026-11-02T06:00:00Z\rC8,K,KHLT,ROAD,2026-11-02T06:00:00Z\r\n",
        "blank-between": b"carrier_id,carrier_name,scac,mode,updated_at\nC7,K,KHLT,ROAD,2026-11-02T06:00:00Z\n\nC8,K,KHLT,ROAD,2026-11-02T06:00:00Z\n",
        "header-only-no-eol": b"carrier_id,carrier_name,scac,mode,updated_at",
        "header-only": b"carrier_id,carrier_name,scac,mode,updated_at\n",
    }
    for n, (name, data) in enumerate(cases.items(), start=1):
        root = tmp_path / name
        key = f"tms/carriers/dt=2026-11-{n:02d}/carriers-202611{n:02d}.csv"
        (root / key).parent.mkdir(parents=True)
        (root / key).write_bytes(data)
        out = []
        for dry in (True, False):
            r = load(database, str(root), dry_run=dry)
            out.append((r.exit_code, r.rows, [(q.reason, q.line) for q in r.quarantined]))
        print("\nCASE", name, "\n  dry:", out[0], "\n  pg: ", out[1])
