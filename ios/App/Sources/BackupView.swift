import SwiftUI
import UIKit
import UniformTypeIdentifiers
import ZhangbanKit

/// The sealed backup file as a document for `fileExporter` (Files, iCloud Drive, AirDrop): its bytes are
/// end-to-end encrypted under the recovery code, so neither iCloud nor the platform can read them.
struct BackupFileDocument: FileDocument {
    static var readableContentTypes: [UTType] { [.data] }
    let url: URL

    init(url: URL) { self.url = url }

    init(configuration: ReadConfiguration) throws {
        throw CocoaError(.featureUnsupported) // only exported; restores read a picked URL (RestoreView)
    }

    func fileWrapper(configuration: WriteConfiguration) throws -> FileWrapper {
        try FileWrapper(url: url, options: .immediate)
    }
}

/// 备份: make the recovery code (shown once), back up, and save the file with the system's exporter.
@MainActor
struct BackupView: View {
    @EnvironmentObject var session: ZhangbanSession
    @State private var code: String?
    @State private var document: BackupFileDocument?
    @State private var exporting = false
    @State private var status: String?
    /// A restored store waits for the move to be finished (the old phone it came from), else nil.
    @State private var awaiting: String?
    @State private var oneTimeCode = ""

    private var backup: PhoneBackup { PhoneBackup(store: session.store, platformURL: session.platformURL) }

    var body: some View {
        Form {
            if let from = awaiting {
                // 完成换机: the licences are still bound to the old phone and the restored queue waits until
                // the platform re-issues them here, after the service centre's identity check (a one-time code).
                Section("Finish the move") {
                    TextField("One-time code from the service centre", text: $oneTimeCode)
                    Button("Finish with the one-time code") {
                        Task { await finishMove(from: from) }
                    }
                    .disabled(oneTimeCode.isEmpty)
                }
            }
            if let code {
                Section("Recovery code (write it down)") {
                    Text(code).font(.headline).textSelection(.enabled)
                }
            }
            Button("Make a recovery code") { Task { await makeCode() } }
            Button("Back up to Files") { Task { await export(increment: false) } }
            Button("Back up the changes") { Task { await export(increment: true) } }
            if let status { Text(status).font(.caption) }
        }
        .navigationTitle("Backup")
        .task { awaiting = try? backup.awaitingTransferFrom() }
        .fileExporter(
            isPresented: $exporting, document: document, contentType: .data, defaultFilename: "zhangban-backup.zbk"
        ) { result in
            if case .failure(let error) = result { status = error.localizedDescription }
        }
    }

    private func finishMove(from: String) async {
        do {
            let report = try await backup.rebind(fromDevice: from, oneTimeCode: oneTimeCode)
            awaiting = nil
            oneTimeCode = ""
            status = lang.pick(report.text) // worded by the core, with its plurals
        } catch {
            status = errorText(error, lang)
        }
    }

    private func makeCode() async {
        do { code = try await backup.makeRecoveryCode() } catch { status = errorText(error, lang) }
    }

    /// A full backup, or an increment (only what changed since the last one; keep it with the files
    /// before it: a restore needs the full backup and every increment after it, in order).
    private func export(increment: Bool) async {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("zhangban-backup.zbk")
        do {
            let made: BackupSummary
            if increment {
                made = try await backup.backUpIncrement(to: url.path)
            } else {
                made = try await backup.backUp(to: url.path)
            }
            status = lang.pick(made.counts) // "1,203 条记录 · 4 个附件 · 2.1 MB", worded by the core
            document = BackupFileDocument(url: url)
            exporting = true
        } catch {
            status = errorText(error, lang)
        }
    }
}

/// 换机恢复 (a new phone; offered at the first start, `ZhangbanApp`): pick the backup file — or the full
/// backup and its increments, in any order — in Files / iCloud Drive; the picked files are checked against
/// the generation the platform attests for the person before the code is asked for (`PhoneBackup.checkOnNewPhone`:
/// a stale copy is refused; offline, the newest file's date and generation are shown, unchecked); then type
/// the code and restore into a new store; `onRestored` opens the session on it (then the move is finished
/// with the old phone's QR or the service centre's one-time code, `PhoneBackup.rebind`).
@MainActor
struct RestoreView: View {
    let directory: URL
    let vault: KeyVault
    let platformURL: String
    let onRestored: (ZhangbanStore, RestoreSummary) -> Void
    @State private var copies: [URL] = []
    @State private var checked: String?
    @State private var importing = false
    @State private var code = ""
    @State private var status: String?

    init(
        directory: URL, vault: KeyVault, platformURL: String,
        onRestored: @escaping (ZhangbanStore, RestoreSummary) -> Void
    ) {
        self.directory = directory
        self.vault = vault
        self.platformURL = platformURL
        self.onRestored = onRestored
    }

    var body: some View {
        Form {
            Button("Choose the backup files (the full backup and its increments)") { importing = true }
            ForEach(copies, id: \.self) { Text($0.lastPathComponent).font(.caption) }
            if let checked { Text(checked).font(.caption) }
            if checked != nil {
                TextField("Recovery code", text: $code)
                Button("Restore") { Task { await restore() } }.disabled(code.isEmpty)
            }
            if let status { Text(status).foregroundStyle(.red) }
        }
        .fileImporter(isPresented: $importing, allowedContentTypes: [.data], allowsMultipleSelection: true) { result in
            switch result {
            case .success(let urls): Task { await pick(urls) }
            case .failure(let error): status = error.localizedDescription
            }
        }
    }

    /// Private copies of the picked files (a picked file outside the sandbox is readable only inside a
    /// security-scoped access), then the check against the platform before the code is asked for.
    private func pick(_ urls: [URL]) async {
        copies.forEach { try? FileManager.default.removeItem(at: $0) }
        copies = []
        checked = nil
        status = nil
        let tmp = FileManager.default.temporaryDirectory
        var made: [URL] = []
        do {
            for (i, url) in urls.enumerated() {
                let copy = tmp.appendingPathComponent("restore-\(i)-\(url.lastPathComponent)")
                let scoped = url.startAccessingSecurityScopedResource()
                defer { if scoped { url.stopAccessingSecurityScopedResource() } }
                try? FileManager.default.removeItem(at: copy)
                try FileManager.default.copyItem(at: url, to: copy)
                made.append(copy)
            }
        } catch {
            made.forEach { try? FileManager.default.removeItem(at: $0) }
            status = error.localizedDescription
            return
        }
        copies = made
        let paths = made.map { $0.path }
        let version = Bundle.main.object(forInfoDictionaryKey: "CFBundleShortVersionString") as? String ?? "0"
        do {
            let info = try await PhoneBackup.checkOnNewPhone(
                paths: paths, scratchDir: tmp.appendingPathComponent("restore-check", isDirectory: true),
                vault: vault, platformURL: platformURL, model: UIDevice.current.model, appVersion: version
            )
            checked = describe(info, checkedByPlatform: true)
        } catch ZhangbanError.Network {
            // Offline: the platform cannot say whether a newer backup exists; show what the newest file says.
            do {
                let infos = try paths.map { try PhoneBackup.inspect(path: $0) }
                if let newest = infos.max(by: { $0.generation < $1.generation }) {
                    checked = describe(newest, checkedByPlatform: false)
                }
            } catch {
                status = errorText(error, lang)
            }
        } catch {
            status = errorText(error, lang)
        }
    }

    private func describe(_ info: BackupInfo, checkedByPlatform: Bool) -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(info.createdAt)).formatted(date: .abbreviated, time: .shortened)
        let note = checkedByPlatform ? "" : String(localized: " · offline: not checked for a newer backup")
        let picked = lang.pick(pickedText(files: UInt32(copies.count), generation: info.generation))
        return "\(picked) \(date)\(note)"
    }

    private func restore() async {
        guard !copies.isEmpty else { return }
        do {
            let (store, summary) = try await PhoneBackup.restoreChain(
                paths: copies.map { $0.path }, code: code, dir: directory.path, vault: vault, pin: nil
            )
            copies.forEach { try? FileManager.default.removeItem(at: $0) }
            onRestored(store, summary)
        } catch {
            status = errorText(error, lang)
        }
    }
}
