<?php

declare(strict_types=1);

// Runs before each README example (ExamplesTest writes the example after it in one file): what
// the surrounding app would provide. NOTIFY_URL, NOTIFY_PUBLISH_KEY, NOTIFY_JWT_SECRET are set
// as in production; EXAMPLE_* carry the test's choices.

require __DIR__ . '/../bootstrap.php';

use NotifyRelay\Tests\Support\LaravelApp;

$uid = getenv('EXAMPLE_UID');               // the user the example notifies
$imageId = 7;
$editorId = getenv('EXAMPLE_EDITOR');       // a user left out with `exclude`
$followerIds = [$uid];
$email = 'ann@example.com';
$redis = new Redis();                       // the app's phpredis connection
$redis->connect('127.0.0.1', (int) getenv('EXAMPLE_REDIS_PORT'));

/** The app's user model, as far as the examples touch it. */
final class ExampleUser
{
    use Illuminate\Notifications\Notifiable;

    public function __construct(private readonly string $id)
    {
    }

    public function getKey(): string
    {
        return $this->id;
    }

    public function getId(): string
    {
        return $this->id;
    }

    public function getAuthIdentifier(): string
    {
        return $this->id;
    }
}

$user = new ExampleUser($uid);

if (getenv('EXAMPLE_KIND') === 'laravel') {
    // The README's config blocks: `env()` needs vlucas/phpdotenv, which Debian does not
    // package, so getenv() reads the same variables here.
    $config = ['broadcasting.default' => 'notify-relay'];
    foreach (json_decode((string) getenv('EXAMPLE_LARAVEL_CONFIG'), true) as [$prefix, $code]) {
        foreach (eval('return [' . str_replace('env(', 'getenv(', $code) . '];') as $key => $value) {
            $config["$prefix.$key"] = $value;
        }
    }
    LaravelApp::boot($config);
}

if (getenv('EXAMPLE_KIND') === 'symfony') {
    // What FrameworkBundle builds from `texter_transports`/`chatter_transports` and the
    // transport factory service (see clients/php/README.md).
    $transports = (new Symfony\Component\Notifier\Transport([new NotifyRelay\Symfony\NotifyRelayTransportFactory()]))
        ->fromStrings(['notify-relay' => getenv('NOTIFY_RELAY_DSN')]);
    $notifier = new Symfony\Component\Notifier\Notifier([
        'push' => new Symfony\Component\Notifier\Channel\PushChannel($transports),
        'chat' => new Symfony\Component\Notifier\Channel\ChatChannel($transports),
    ]);
}
