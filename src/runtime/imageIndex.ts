/**
 * The store's index.json as a list of image records: one descriptor per
 * name:tag (annotation `org.opencontainers.image.ref.name` = "name:tag"),
 * plus at most one untagged descriptor per digest. Pure functions; the store
 * applies them under its index lock.
 */
import { formatPlatform, ANN, type OciDescriptor, type OciIndex, type OciPlatform } from "./ociTypes.js";
import { sameName } from "./imageRef.js";

export interface ImageRecord {
  readonly name: string;
  readonly tag: string | undefined;
  /** sha256:… of the manifest. */
  readonly digest: string;
  /** Bytes of all the image's blobs as stored (manifest + config + layers). */
  readonly size: number;
  readonly created: string | undefined;
  /** os/arch[/variant], e.g. linux/amd64. */
  readonly platform: string;
}

/** What the store knows about an image when it adds it to the index. */
export interface NewImage {
  readonly name: string;
  readonly tag: string | undefined;
  readonly digest: string;
  readonly mediaType: string;
  readonly manifestSize: number;
  readonly totalSize: number;
  readonly created: string | undefined;
  readonly platform: OciPlatform;
}

export function descriptorFor(img: NewImage): OciDescriptor {
  const annotations: Record<string, string> = {};
  if (img.tag !== undefined && img.name) annotations[ANN.refName] = `${img.name}:${img.tag}`;
  if (img.name) annotations[ANN.name] = img.name;
  if (img.created) annotations[ANN.created] = img.created;
  annotations[ANN.size] = String(img.totalSize);
  const platform: OciPlatform = { architecture: img.platform.architecture, os: img.platform.os };
  if (img.platform.variant) platform.variant = img.platform.variant;
  return { mediaType: img.mediaType, digest: img.digest, size: img.manifestSize, annotations, platform };
}

/** Splits a stored ref.name "name:tag" (the tag is after the last ':' not followed by '/'). */
function splitRefName(ref: string): { name: string; tag: string | undefined } {
  const i = ref.lastIndexOf(":");
  if (i === -1 || ref.slice(i + 1).includes("/")) return { name: ref, tag: undefined };
  return { name: ref.slice(0, i), tag: ref.slice(i + 1) };
}

export function recordFromDescriptor(d: OciDescriptor): ImageRecord {
  const ann = d.annotations ?? {};
  const ref = ann[ANN.refName];
  const fromRef = ref ? splitRefName(ref) : undefined;
  const size = Number(ann[ANN.size]);
  return {
    name: fromRef?.name ?? ann[ANN.name] ?? "",
    tag: fromRef?.tag,
    digest: d.digest,
    size: Number.isFinite(size) ? size : d.size,
    created: ann[ANN.created],
    platform: d.platform ? formatPlatform(d.platform) : "unknown",
  };
}

export function recordsOf(index: OciIndex): ImageRecord[] {
  return index.manifests
    .map(recordFromDescriptor)
    .sort((a, b) => a.name.localeCompare(b.name) || (a.tag ?? "").localeCompare(b.tag ?? "") || a.digest.localeCompare(b.digest));
}

/**
 * Adds images: a tag moves to the new digest (the old descriptor goes, its
 * blobs become garbage for gc); an untagged image is added only if its digest
 * is not in the index yet; an untagged entry for a digest that gets a tag is dropped.
 */
export function addImages(index: OciIndex, images: readonly NewImage[]): OciIndex {
  let manifests = [...index.manifests];
  for (const img of images) {
    if (img.tag !== undefined && img.name) {
      manifests = manifests.filter((d) => {
        const r = recordFromDescriptor(d);
        if (r.tag !== undefined && r.tag === img.tag && sameName(r.name, img.name)) return false;
        return !(r.tag === undefined && d.digest === img.digest);
      });
      manifests.push(descriptorFor(img));
    } else if (!manifests.some((d) => d.digest === img.digest)) {
      manifests.push(descriptorFor(img));
    }
  }
  return { ...index, manifests };
}

/** Removes the descriptors `drop` selects; returns the new index and what was removed. */
export function removeImages(index: OciIndex, drop: (r: ImageRecord, d: OciDescriptor) => boolean): { index: OciIndex; removed: ImageRecord[] } {
  const removed: ImageRecord[] = [];
  const manifests = index.manifests.filter((d) => {
    const r = recordFromDescriptor(d);
    if (!drop(r, d)) return true;
    removed.push(r);
    return false;
  });
  return { index: { ...index, manifests }, removed };
}
