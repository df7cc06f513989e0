"""In-process time of the address search (`landdb.parcels.search_parcels`, 20 per page, count
capped at 10 000 as the search box asks) for a few address words, best and median of 5.

    .venv/bin/python bench/time_address_search.py postgresql://landdb@127.0.0.1:54341/landdb_web
"""
import sys, time, statistics
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from landdb import parcels
from landdb.db import normalize_url
e = create_engine(normalize_url(sys.argv[1]))
for words in ["tran thanh", "nguyen hong", "le thanh", "ben doan 55", "ha long", "nguyen van an"]:
    ts = []
    for _ in range(5):
        with Session(e) as s:
            t = time.perf_counter()
            st = parcels.search_parcels(s, parcels.SearchFilters(address=words), limit=20, count_limit=10000)
            body = b"".join(x if isinstance(x, bytes) else x.encode() for x in st.chunks) if hasattr(st, "chunks") else None
            ts.append((time.perf_counter() - t) * 1000)
    print(f"{words:15s} best {min(ts):7.1f} ms  median {statistics.median(ts):7.1f} ms  matched={st.matched}")
