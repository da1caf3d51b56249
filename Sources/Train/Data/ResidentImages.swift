// The dataset's images as the model takes them: decoded and resized to 768x768 RGB uint8 (Florence2Processor),
// 1,769,472 bytes each. The first images (in dataset order) that fit the memory budget stay in memory; the others
// are decoded again each time they are needed (by ImagePrefetcher's background thread during an epoch).
// Immutable once built, so the trainer's thread and the prefetch thread share it without locks.
import FlrImage
import FlrProcessor
import Foundation

public final class ResidentImages: @unchecked Sendable {
  /// Bytes of one 768x768 RGB image.
  public static let bytesPerImage = PixelValues.size * PixelValues.size * 3

  /// The image files, in dataset order.
  public let files: [URL]
  /// The resident 768x768 images (nil: decoded on the fly).
  let resident: [RGBImage?]

  init(files: [URL], resident: [RGBImage?]) {
    self.files = files
    self.resident = resident
  }

  public var count: Int { files.count }
  public var residentCount: Int { resident.reduce(0) { $0 + ($1 == nil ? 0 : 1) } }
  public var residentBytes: Int { residentCount * Self.bytesPerImage }
  public func isResident(_ i: Int) -> Bool { resident[i] != nil }

  /// Image `i` at 768x768: from memory, or decoded and resized now.
  public func image(_ i: Int) throws -> RGBImage {
    if let image = resident[i] { return image }
    return try Self.decode(files[i])
  }

  /// Decodes and resizes one file; failures come back as DatasetError naming the file.
  static func decode(_ file: URL) throws -> RGBImage {
    do { return Florence2Processor.resized(try ImageDecoder.decode(contentsOf: file)) } catch let error as ImageError {
      throw DatasetError(file: error.file, problem: error.problem)
    } catch let error as DatasetError {
      throw error
    } catch {
      throw DatasetError(file: file.path, problem: "\(error)")
    }
  }

  /// Decodes and resizes the bytes of `file` (already read, e.g. to hash them).
  static func decode(_ data: Data, file: URL) throws -> RGBImage {
    do { return Florence2Processor.resized(try ImageDecoder.decode(data: data, file: file.path)) } catch let error
      as ImageError
    {
      throw DatasetError(file: error.file, problem: error.problem)
    }
  }
}
