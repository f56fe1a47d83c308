import {
  UAPI_IOCTLS,
  UAPI_STRUCTS,
  findUapiIoctl,
  findUapiStruct,
  formatIoctlNumber,
  EMAIL_WIDTH,
  wrapLine,
} from "@dmabuf-ref/core";
import { toJson } from "../io/json.js";
import { UsageError } from "../io/usage-error.js";

/**
 * Renders `dmabuf-ref uapi layout STRUCT`.
 *
 * @param name - the kernel struct name.
 * @param json - print JSON.
 * @returns the output.
 * @throws UsageError for an unknown struct.
 */
export function uapiLayoutOutput(name: string, json: boolean): string {
  const s = findUapiStruct(name);
  if (s === undefined) {
    throw new UsageError(
      `unknown struct "${name}" (known: ${UAPI_STRUCTS.map((x) => x.name).join(", ")})`,
    );
  }
  if (json) return toJson({ struct: s.name, size: s.size, fields: s.fields });
  const rows = s.fields.map(
    (f) =>
      `  ${String(f.offset).padStart(4)}  ${String(f.size).padStart(4)}  ${f.type.padEnd(32)} ${f.name}`,
  );
  return (
    [
      `struct ${s.name} (${s.size} bytes)`,
      "offset  size  type" + " ".repeat(29) + "name",
      ...rows,
    ].join("\n") + "\n"
  );
}

/**
 * Renders `dmabuf-ref uapi ioctl NAME`.
 *
 * @param name - the kernel macro name.
 * @param json - print JSON.
 * @returns the output.
 * @throws UsageError for an unknown ioctl.
 */
export function uapiIoctlOutput(name: string, json: boolean): string {
  const i = findUapiIoctl(name);
  if (i === undefined) {
    throw new UsageError(
      `unknown ioctl "${name}" (known: ${UAPI_IOCTLS.map((x) => x.name).join(", ")})`,
    );
  }
  const number = formatIoctlNumber(i.number);
  if (json) return toJson({ name: i.name, number });
  const nr = `0x${(i.number & 0xff).toString(16)}`;
  const line =
    `${i.name} = ${number} = _IO(';', ${nr})` +
    (i.struct === undefined ? "" : `, argument struct ${i.struct}`) +
    (i.minSize === undefined ? "" : `, min size ${i.minSize}`);
  return wrapLine(line, EMAIL_WIDTH, 4).join("\n") + "\n";
}
