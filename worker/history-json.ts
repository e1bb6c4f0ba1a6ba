/**
 * History ⇄ JSON in the format other Temporal tools write (proto3 JSON: the CLI's
 * `--output json`, the Web UI's download), done with the protobufjs instance that built the
 * history types.
 *
 * Why not `historyToJSON`/`historyFromJSON` from @temporalio/common: in this install npm gives
 * @temporalio/common and @temporalio/proto separate copies of protobufjs 8 (the top-level slot
 * holds grpc's protobufjs 7), so those helpers fail with "type must be a Type". They are still
 * tried first on read, since they also accept the older (tctl) JSON format.
 */
import { dirname } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';

/** A workflow history as the server returns it. */
export type History = proto.temporal.api.history.v1.IHistory;

interface ProtoJson {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
}

let cached: { protojson: ProtoJson; historyType: unknown } | undefined;
function codec() {
  cached ??= {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    protojson: require(
      require.resolve('protobufjs/ext/protojson', { paths: [dirname(require.resolve('@temporalio/proto/package.json'))] }),
    ) as ProtoJson,
    historyType: (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType(
      'temporal.api.history.v1.History',
    ),
  };
  return cached;
}

/** The history as pretty-printed proto3 JSON. */
export function historyToJson(history: History): string {
  const { protojson, historyType } = codec();
  return JSON.stringify(protojson.toJson(historyType, proto.temporal.api.history.v1.History.fromObject(history)), null, 2);
}

/** A history from parsed JSON (proto3 JSON, or the older tctl format). */
export function historyFromJson(json: unknown): History {
  try {
    return historyFromJSON(json);
  } catch (err) {
    if (!(err instanceof TypeError) || !/must be a Type/.test(err.message)) throw err;
    const { protojson, historyType } = codec();
    return protojson.fromJson(historyType, json, { ignoreUnknownFields: true }) as History;
  }
}
