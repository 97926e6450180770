"""A distributed Map's items and results: its ItemReader, ItemBatcher and ResultWriter, as building blocks for
the map-run driver. Each takes the field as the interpreter evaluated it (Parameters/Arguments and `{% %}`
fields resolved; `*Path` fields through a `resolve(path)` callback) and reaches S3 through AwsClients.

How the driver uses them:
1. At the Map Run's start: `ReaderSpec.parse(item_reader, resolve=...)`, `BatcherSpec.parse(...)` when there is
   an ItemBatcher, `WriterSpec.parse(result_writer)` (or `WriterSpec()` without one). A StatesError named
   States.ItemReaderFailed (or States.ResultWriterFailed) fails the Map Run (MapRunFailed); any other fails the
   state before the Map Run starts.
2. Starting children: `reader = await open_reader(spec, clients, call, cursor)` with the cursor last committed
   (None the first time); iterate it (or `batches(reader, batcher_spec)`), start one child per item (batch) and
   commit the item's (batch's) cursor with the child, so a restart resumes after the last child started. Read
   as children are needed (MaxConcurrency): the reader holds a page, never the file. `reader.close()` when the
   run stops early. Errors while reading are States.ItemReaderFailed.
3. At the end: with an export, `writer = await open_writer(...)`, `await writer.add(child_description)` for each
   item in order (from the store), then `await writer.finish()` is the Map's output; without one,
   `writer.output(descriptions, spec)` is.

Modules: reader.py (specs, cursors, paging), json.py, jsonl.py, csv.py, parquet.py, manifest.py (S3 Inventory and
Athena manifests), s3.py (S3 calls and s3:listObjectsV2), batcher.py, writer.py.
"""
