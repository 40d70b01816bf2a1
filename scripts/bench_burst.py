"""A burst of TAXII reads (scripts/bench-burst.sh): READERS threads each read the first readable collection of the
API root in full (pages of 1 000, the unmodified OASIS taxii2-client) at the same time, while the server's resident
memory (VmRSS of PID) is sampled. Prints the RSS in MiB before, at its peak during the burst, and 15, 30 and 60 s
after it.

Usage: bench_burst.py API_ROOT USER PASSWORD PID READERS
"""
import sys
import threading
import time

from taxii2client.v21 import ApiRoot, as_pages


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    return 0


def read_all(api_root, user, password, counts):
    root = ApiRoot(api_root, user=user, password=password)
    collection = [c for c in root.collections if c.can_read][0]
    count = 0
    for page in as_pages(collection.get_objects, per_request=1000):
        count += len(page.get("objects", []))
    counts.append(count)


def main():
    api_root, user, password, pid, readers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    peak = [rss_mib(pid)]
    print(f"before: {peak[0]} MiB", flush=True)
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mib(pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    began = time.time()
    counts = []
    threads = [threading.Thread(target=read_all, args=(api_root, user, password, counts)) for _ in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    sampler.join()
    if len(counts) != readers:
        print(f"bench-burst: {readers - len(counts)} readers failed", file=sys.stderr)
        return 1
    print(f"burst: {readers} readers read {counts[0]} objects each in {time.time() - began:.1f} s; peak {peak[0]} MiB",
          flush=True)
    waited = 0
    for wait in (15, 15, 30):
        time.sleep(wait)
        waited += wait
        print(f"{waited} s after: {rss_mib(pid)} MiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
