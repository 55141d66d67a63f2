<?php

declare(strict_types=1);

namespace NotifyRelay\Tests;

use NotifyRelay\Tests\Support\Stack;
use NotifyRelay\Tests\Support\Subscriber;
use PHPUnit\Framework\TestCase;

/**
 * Runs every PHP example of README.md and clients/php/README.md against the relay, so none can
 * rot. Each ```php block follows a marker line:
 *
 *   <!-- example: plain|laravel|symfony [delivers] [serves-token] -->
 *                                                       run it (after example-prelude.php);
 *                                                       `delivers`: $uid must get an event;
 *                                                       `serves-token`: GET /notify-relay/token
 *                                                       as $uid must answer a token for $uid
 *   <!-- example: laravel-config PREFIX -->             config entries (`'key' => value,`) the
 *                                                       Laravel examples run with (those of
 *                                                       clients/php/README.md, the setup guide)
 */
final class ExamplesTest extends TestCase
{
    private const FILES = ['README.md', 'clients/php/README.md'];

    /** Asks the app's router for the page's token as the logged-in $user (serves-token). */
    private const TOKEN_REQUEST = <<<'PHP'
        $request = Illuminate\Http\Request::create('/notify-relay/token');
        $request->setUserResolver(fn () => $user);
        echo "\nTOKEN=", NotifyRelay\Tests\Support\LaravelApp::handle($request)->getContent(), "\n";
        PHP;

    /** @return array<string, array{string, string, list<string>, string}> file, kind, flags, code */
    public static function examples(): array
    {
        $out = [];
        foreach (self::FILES as $file) {
            foreach (self::blocks($file) as $i => [$kind, $flags, $code, $line]) {
                if (!str_starts_with($kind, 'laravel-config')) {
                    $out["$file:$line $kind"] = [$file, $kind, $flags, $code];
                }
            }
        }
        return $out;
    }

    /** @dataProvider examples */
    #[\PHPUnit\Framework\Attributes\DataProvider('examples')]
    public function test_the_example_runs_against_the_relay(string $file, string $kind, array $flags, string $code): void
    {
        $stack = Stack::shared();
        $uid = 'ex-' . bin2hex(random_bytes(4));
        $subscriber = new Subscriber($stack, $uid);
        // An app directory whose vendor/autoload.php (Composer's, in a real app) loads the package.
        $app = sys_get_temp_dir() . '/notify-example-' . bin2hex(random_bytes(4));
        mkdir("$app/vendor", 0777, true);
        file_put_contents("$app/vendor/autoload.php", '<?php require_once ' . var_export(__DIR__ . '/bootstrap.php', true) . ';');
        $script = "$app/example.php";
        $code = preg_replace('/^<\?php\b/', '', $code); // a whole file: its tag is ours already
        $epilogue = in_array('serves-token', $flags, true) ? self::TOKEN_REQUEST : '';
        file_put_contents($script, "<?php\nrequire " . var_export(__DIR__ . '/Support/example-prelude.php', true) . ";\n$code\n$epilogue");
        $env = [
            'NOTIFY_URL' => $stack->url(),
            'NOTIFY_PUBLISH_KEY' => Stack::PUBLISH_KEY,
            'NOTIFY_JWT_SECRET' => Stack::JWT_SECRET,
            'NOTIFY_RELAY_DSN' => 'notify-relay://' . Stack::PUBLISH_KEY . "@127.0.0.1:{$stack->relayPort}",
            'EXAMPLE_KIND' => $kind,
            'EXAMPLE_UID' => $uid,
            'EXAMPLE_EDITOR' => $uid . '-editor',
            'EXAMPLE_REDIS_PORT' => (string) $stack->redisPort,
            'EXAMPLE_LARAVEL_CONFIG' => json_encode(self::laravelConfig()),
        ];
        $proc = proc_open([PHP_BINARY, $script], [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, $app, $env + getenv());
        $stdout = stream_get_contents($pipes[1]);
        $stderr = stream_get_contents($pipes[2]);
        $status = proc_close($proc);
        unlink($script);
        unlink("$app/vendor/autoload.php");
        rmdir("$app/vendor");
        rmdir($app);

        $this->assertSame(0, $status, "the example failed:\n$code\n--- output:\n$stdout$stderr");
        if ($epilogue !== '') {
            $this->assertSame(1, preg_match('/^TOKEN=(\S+)$/m', $stdout, $m), "no token answered:\n$stdout");
            $page = new Subscriber($stack, $uid, token: $m[1]);
            (new \NotifyRelay\Client($stack->url(), Stack::PUBLISH_KEY))->publish(['user_id' => $uid]);
            $this->assertCount(1, $page->next(), 'the served token reads $uid\'s notifications');
        }
        if (in_array('delivers', $flags, true)) {
            $this->assertNotEmpty($subscriber->next(), "the example delivered nothing to \$uid:\n$code");
        }
    }

    public function test_every_php_block_of_the_readmes_is_marked_as_an_example(): void
    {
        foreach (self::FILES as $file) {
            $text = (string) file_get_contents(self::root() . "/$file");
            $php = preg_match_all('/^```php$/m', $text);
            $this->assertGreaterThan(0, $php, "$file has no PHP example");
            $this->assertCount($php, self::blocks($file), "$file: every ```php block needs an <!-- example: ... --> line before it");
        }
    }

    /**
     * The Laravel config blocks of the setup guide as [config prefix, code] pairs
     * (example-prelude.php evaluates them with the example's environment).
     *
     * @return list<array{string, string}>
     */
    private static function laravelConfig(): array
    {
        $config = [];
        foreach (self::blocks('clients/php/README.md') as [$kind, $flags, $code]) {
            if ($kind === 'laravel-config') {
                $config[] = [$flags[0], $code];
            }
        }
        return $config;
    }

    /** @return list<array{string, list<string>, string, int}> kind, flags, code, line */
    private static function blocks(string $file): array
    {
        $lines = file(self::root() . "/$file", FILE_IGNORE_NEW_LINES);
        $blocks = [];
        foreach ($lines as $i => $line) {
            if (preg_match('/^<!-- example: ([\w-]+)((?: [\w.-]+)*) -->$/', $line, $m) && ($lines[$i + 1] ?? '') === '```php') {
                $end = $i + 2;
                while ($lines[$end] !== '```') {
                    $end++;
                }
                $code = implode("\n", array_slice($lines, $i + 2, $end - $i - 2));
                $blocks[] = [$m[1], array_values(array_filter(explode(' ', $m[2]))), $code, $i + 3];
            }
        }
        return $blocks;
    }

    private static function root(): string
    {
        return dirname(__DIR__, 3);
    }
}
