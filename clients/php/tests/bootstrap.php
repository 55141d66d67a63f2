<?php

declare(strict_types=1);

// Autoloads the package (PSR-4, as Composer would) and the framework components from Debian's
// packages under /usr/share/php, since Composer packages cannot be downloaded where these run.

spl_autoload_register(static function (string $class): void {
    foreach (['NotifyRelay\\Tests\\' => __DIR__ . '/', 'NotifyRelay\\' => dirname(__DIR__) . '/src/'] as $prefix => $dir) {
        if (str_starts_with($class, $prefix)) {
            $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            if (is_file($file)) {
                require $file;
            }
            return;
        }
    }
});

foreach ([
    'Illuminate/Broadcasting', 'Illuminate/Notifications', 'Illuminate/Events', 'Illuminate/Config',
    'Illuminate/Http', 'Illuminate/Routing', 'Symfony/Component/Notifier',
] as $component) {
    $autoload = "/usr/share/php/$component/autoload.php";
    if (is_file($autoload)) {
        require_once $autoload;
    }
}
