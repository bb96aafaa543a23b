/**
 * COPY data formats (text, csv, binary) for `COPY … FROM STDIN` and `COPY … TO STDOUT`: option
 * resolution, streaming parsers, writers, PostgreSQL's error CONTEXT, and the adapters that turn a
 * row consumer or a row iterable into the wire layer's `CopyInSink` / `CopyOutSource`.
 */
export {
  type CopyOptionInput,
  type CopyOptions,
  type CopyOptionsContext,
  copyOptionInputs,
  defaultCopyOptions,
  resolveCopyOptions,
} from './options.ts';
export { BINARY_SIGNATURE, type CopyParser, type CopyParserSpec, createCopyParser } from './parse.ts';
export { type CopyRow, convertCopyRow, copyColumnWhere, copyLineWhere, limitPrintout, withWhere } from './row.ts';
export {
  type CopyColumn,
  type CopyFromSpec,
  type CopyRowConsumer,
  type CopyToSpec,
  createCopyInSink,
  createCopyOutSource,
} from './stream.ts';
export { type CopyWriter, type CopyWriterSpec, createCopyWriter } from './write.ts';
