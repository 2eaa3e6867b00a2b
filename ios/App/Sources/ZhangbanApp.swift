import BackgroundTasks
import SwiftUI
import UIKit
import UserNotifications
import ZhangbanKit

/// The sample app: opens the person's store (Keychain-backed key, Application Support, excluded from
/// backup), shows four tabs (the 待办 home first), turns the core's case notices into local notifications,
/// and in a background refresh task syncs and hands the core's reminder plan (its add / replace / cancel
/// diff) to the notification centre as calendar triggers.
@main
struct ZhangbanApp: App {
    @StateObject private var opener = SessionOpener()
    @Environment(\.scenePhase) private var phase

    init() {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: SessionOpener.syncTask, using: nil) { task in
            SessionOpener.handle(task as! BGAppRefreshTask)
        }
    }

    var body: some Scene {
        WindowGroup {
            Group {
                if let session = opener.session {
                    ContentView().environmentObject(session)
                } else if let directory = opener.firstStart {
                    FirstStartView(directory: directory, opener: opener)
                } else if let error = opener.error {
                    VStack(spacing: 16) {
                        Text(error).foregroundStyle(.red)
                        Button("重试 / Retry") { Task { await opener.open() } }
                    }.padding()
                } else {
                    ProgressView()
                }
            }
            .task { await opener.open() }
        }
        .onChange(of: phase) { newPhase in
            if newPhase == .background { SessionOpener.schedule() }
        }
    }
}

@MainActor
final class SessionOpener: ObservableObject {
    static let syncTask = "org.zhangban.sync"
    /// The background task needs the session the UI opened (one store, one writer per process).
    static var shared: ZhangbanSession?

    @Published var session: ZhangbanSession?
    @Published var error: String?
    /// The store's folder while the first start asks "new here, or restoring a backup?" (nil otherwise).
    @Published var firstStart: URL?
    private var startAfresh = false

    /// The person chose to start with an empty store (not a restore).
    func beginAfresh() async {
        startAfresh = true
        firstStart = nil
        await open()
    }

    /// A restore put the store in place: open it (the restore's own handle is dropped first).
    func restored() async {
        firstStart = nil
        await open()
    }

    func open() async {
        guard session == nil else { return }
        // one store per process: the background refresh may have opened it before any scene
        if let s = SessionOpener.shared {
            session = s
            return
        }
        error = nil
        do {
            let support = try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
            let directory = support.appendingPathComponent("zhangban", isDirectory: true)
            // The first start on this phone (no store yet): offer to restore a backup before an empty store
            // is made. Not for a background launch, which never shows this.
            if !startAfresh && !FileManager.default.fileExists(atPath: directory.path) {
                firstStart = directory
                return
            }
            let url = Bundle.main.object(forInfoDictionaryKey: "ZhangbanPlatformURL") as? String ?? "http://127.0.0.1:8700"
            let s = try await ZhangbanSession.open(
                directory: directory,
                vault: KeychainVault(),
                pin: nil, // a PIN screen would pass it here
                platformURL: url,
                onNotice: { notice in SessionOpener.notify(notice) }
            )
            SessionOpener.shared = s
            session = s
            _ = try? await UNUserNotificationCenter.current().requestAuthorization(options: [.alert, .sound, .badge])
            let version = Bundle.main.object(forInfoDictionaryKey: "CFBundleShortVersionString") as? String ?? "0"
            await s.registerOnce(model: UIDevice.current.model, appVersion: version)
        } catch {
            self.error = errorText(error, Lang.current)
        }
    }

    /// A local notification with the core's text, one per case (a newer notice replaces the older one).
    nonisolated static func notify(_ notice: Notice) {
        let text = notice.text(Lang.current)
        let content = UNMutableNotificationContent()
        content.title = text.title
        content.body = text.body
        content.userInfo = ["caseId": notice.caseId]
        let request = UNNotificationRequest(identifier: "case." + notice.caseId, content: content, trigger: nil)
        UNUserNotificationCenter.current().add(request)
    }

    /// The next background run: at the plan's wake-up time (the core's), at the earliest in 15 minutes.
    nonisolated static func schedule(at wake: Date? = nil) {
        let request = BGAppRefreshTaskRequest(identifier: syncTask)
        request.earliestBeginDate = max(wake ?? .distantPast, Date(timeIntervalSinceNow: 15 * 60))
        try? BGTaskScheduler.shared.submit(request)
    }

    nonisolated static func handle(_ task: BGAppRefreshTask) {
        schedule()
        let work = Task { @MainActor in
            // iOS may launch the app for the refresh without any scene: open the session here then.
            if SessionOpener.shared == nil { await SessionOpener().open() }
            guard let s = SessionOpener.shared else {
                task.setTaskCompleted(success: false)
                return
            }
            // Sync, then the reminder plan's diff to the notification centre; the session's listener has
            // already posted the run's notices.
            let reminders = RemindersModel(store: s.store)
            guard let (report, wake) = try? await reminders.runBackground(s.cases, showNotices: false) else {
                task.setTaskCompleted(success: false)
                return
            }
            schedule(at: wake)
            task.setTaskCompleted(success: !report.run.offline)
        }
        task.expirationHandler = { work.cancel() }
    }
}

/// The first start: a new user starts with an empty store; a new phone restores its backup (RestoreView),
/// then finishes the move with the old phone's QR or the service centre's one-time code (BackupView).
@MainActor
struct FirstStartView: View {
    let directory: URL
    @ObservedObject var opener: SessionOpener

    var body: some View {
        NavigationStack {
            Form {
                Section {
                    Text("欢迎使用掌办 / Welcome to Zhangban")
                }
                Button("我是新用户，开始使用 / I am new here: start") { Task { await opener.beginAfresh() } }
                NavigationLink("换了新手机：从备份恢复 / New phone: restore my backup") {
                    RestoreView(directory: directory, vault: KeychainVault()) { _, _ in
                        Task { await opener.restored() }
                    }
                    .navigationTitle("换机恢复 Restore")
                }
            }
            .navigationTitle("掌办 Zhangban")
        }
    }
}
