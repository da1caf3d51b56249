// Load-time pass over the scanned pairs: read each image file, hash it (duplicates), decode and resize it, keep
// the first ones that fit the memory budget. Runs a few images at a time over the worker threads (each image's
// decode and resize then run on one thread), so at most a handful of full-size decodes are in memory at once.
import FlrCore
import FlrImage
import Foundation

struct FileRecord {
  let size: Int
  let modified: Date
  /// SHA-256 of the file's bytes; nil when the file was not read at load (checkAllImages off, beyond budget).
  let contentHash: String?
}

enum ImageLoading {
  struct Loaded {
    var pairs: [ScannedPair] = []
    var records: [FileRecord] = []
    var resident: [RGBImage?] = []
    var skipped: [SkippedItem] = []
  }

  private enum Outcome {
    case reused(FileRecord, RGBImage?)
    case decoded(FileRecord, RGBImage?)
    case failed(String)
  }

  static func load(_ pairs: [ScannedPair], options: DatasetOptions, previous: [String: (FileRecord, RGBImage?)])
    -> Loaded
  {
    let capacity = max(0, options.memoryBudget / ResidentImages.bytesPerImage)
    var out = Loaded()
    var firstByHash: [String: String] = [:]
    let chunk = max(2, Threads.count * 2)
    var start = 0
    while start < pairs.count {
      let range = start..<min(start + chunk, pairs.count)
      let wantImages = options.checkAllImages || out.resident.count(where: { $0 != nil }) < capacity
      var outcomes = [Outcome?](repeating: nil, count: range.count)
      outcomes.withUnsafeMutableBufferPointer { results in
        Threads.parallelFor(range.count) { k in
          results[k] = outcome(pairs[range.lowerBound + k].image, previous: previous, decode: wantImages)
        }
      }
      var residentCount = out.resident.count(where: { $0 != nil })
      for (k, result) in outcomes.enumerated() {
        let pair = pairs[range.lowerBound + k]
        switch result {
        case .failed(let problem)?:
          out.skipped.append(SkippedItem(file: pair.key, reason: .unreadableImage(problem)))
        case .reused(let record, let image)?, .decoded(let record, let image)?:
          if let hash = record.contentHash {
            if let first = firstByHash[hash] {
              out.skipped.append(SkippedItem(file: pair.key, reason: .duplicate(of: first)))
              continue
            }
            firstByHash[hash] = pair.key
          }
          let keep = residentCount < capacity ? image : nil
          if keep != nil { residentCount += 1 }
          out.pairs.append(pair)
          out.records.append(record)
          out.resident.append(keep)
        case nil:
          out.skipped.append(SkippedItem(file: pair.key, reason: .unreadableImage("not processed")))
        }
      }
      start = range.upperBound
    }
    return out
  }

  private static func outcome(_ file: URL, previous: [String: (FileRecord, RGBImage?)], decode: Bool) -> Outcome {
    let values: URLResourceValues
    do { values = try file.resourceValues(forKeys: [.fileSizeKey, .contentModificationDateKey]) } catch {
      return .failed("cannot read file (\(error.localizedDescription))")
    }
    let size = values.fileSize ?? -1
    let modified = values.contentModificationDate ?? .distantPast
    // Same size and modification time (to the millisecond, what utimes round trips keep): the same file.
    if let (record, image) = previous[file.path], record.size == size,
      abs(record.modified.timeIntervalSince(modified)) < 0.001, image != nil || !decode
    {
      return .reused(record, image)  // its decoded image (if resident) is kept, the file is not read again
    }
    guard decode else { return .decoded(FileRecord(size: size, modified: modified, contentHash: nil), nil) }
    let data: Data
    do { data = try Data(contentsOf: file) } catch {
      return .failed("cannot read file (\(error.localizedDescription))")
    }
    let hash = SHA256.hex(Array(data))
    do {
      let image = try ResidentImages.decode(data, file: file)
      return .decoded(FileRecord(size: size, modified: modified, contentHash: hash), image)
    } catch let error as DatasetError {
      return .failed(error.problem)
    } catch {
      return .failed("\(error)")
    }
  }
}
